#pragma once
// The slot through which a Tensor carries a number format (SPEC §1). core only knows this small
// interface; formats/ implements it, so dependencies point from formats down to core.
// Calls through it are per tensor, never per element.
#include <string>

namespace lpt {

class NumberFormat {
 public:
  virtual ~NumberFormat() = default;
  // Readable name, e.g. "int4-pv16-s4", "hbfp4-b64", "lns8-g8", "mxfp4".
  virtual std::string name() const = 0;
  // Storage cost per logical value, scale overhead included (SPEC §1).
  virtual double bits_per_value() const = 0;
  // The format's parameters as JSON text, the syntax experiment configs use.
  virtual std::string to_json() const = 0;
};

}  // namespace lpt
