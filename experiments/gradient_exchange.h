#pragma once
// The data-parallel gradient exchange of a training step (SPEC §10, README "Data-parallel
// training"): after the backward pass every rank's gradients are all-gathered and added in rank
// order, then divided by the number of ranks, so every rank takes the same optimizer step.
//
// /distributed/gradient_transport chooses what travels. "fp32": every gradient as fp32, and a
// weight_gradients format then quantizes the averaged gradient (one process's result). "encoded":
// the weight gradient of every conv and linear layer with a weight_gradients format travels as
// that format's encoding (codes and scales, formats/encode.h) of the rank's own gradient quantized
// in that format; each rank decodes every rank's encoding and adds the decoded
// gradients in rank order. The other parameters (biases, batch norm, layers without a
// weight_gradients format) travel as fp32. Decoding gives back the locally quantized gradient bit
// for bit wherever quantizing a quantized tensor again changes nothing (HBFP, MX, minifloats
// without a tensor scale, LNS: tests/format_properties_test.cpp), and then both transports give
// the same sums bit for bit.
#include <cstdint>
#include <string>
#include <vector>

#include "core/dist/world.h"
#include "layers/module.h"

namespace lpt {

enum class GradientTransport { fp32, encoded };
// "fp32" / "encoded" (the config's values).
GradientTransport gradient_transport_of(const std::string& name);

class GradientExchange {
 public:
  GradientExchange(dist::World& world, GradientTransport transport) : world_(world), transport_(transport) {}

  dist::World& world() const { return world_; }
  GradientTransport transport() const { return transport_; }

  // Gradients (in named_parameters order), then `extra` values, summed over ranks in rank order;
  // gradients divided by the world's size, `extra` left as sums; the weight gradients quantized
  // (the quantization the backward pass left waiting) before the exchange when encoded, after it
  // when fp32. Nothing happens in a world of one.
  void average(Module& model, std::vector<float>& extra);

  // What the exchanges since the last take_cost() cost this rank.
  struct Cost {
    int64_t exchanges = 0;
    int64_t bytes_sent = 0;      // this rank's contributions to the all-gathers
    int64_t bytes_received = 0;  // the other ranks' contributions, which every rank must receive
    double seconds = 0;          // all of average(): encoding, all-gather, decoding and sums
    double gather_seconds = 0;   // in the all-gather itself (the transfer, and waiting for slower ranks)
  };
  Cost take_cost();

 private:
  void exchange(Module& model, std::vector<float>& extra);  // the all-gather and the sums
  dist::World& world_;
  GradientTransport transport_;
  Cost cost_;
};

}  // namespace lpt
