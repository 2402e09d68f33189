#include "experiments/optimizer_setup.h"

#include "optimizers/adam.h"
#include "optimizers/lns_madam.h"
#include "optimizers/madam.h"
#include "optimizers/sgd.h"

namespace lpt {

void OptimizerSet::step() {
  for (auto& o : optimizers) o->step();
}

void OptimizerSet::zero_grad() {
  for (auto& o : optimizers) o->zero_grad();
}

OptimizerSet make_optimizers(const json& config, const Module& model) {
  const json& o = config["optimizer"];
  const std::string name = o["name"];
  const double lr = o["lr"], wd = o["weight_decay"];
  const bool decay_1d = o["decay_1d"];
  const auto split = optim::split_params(model.parameters(), {optim::has_ndim(1)});
  const std::vector<Variable>& one_d = split[0];
  const std::vector<Variable>& multi_d = split[1];
  OptimizerSet set;

  optim::SgdOptions sgd{lr, o["momentum"], o["dampening"], wd, o["nesterov"]};
  optim::SgdOptions sgd_1d = sgd;
  if (!decay_1d) sgd_1d.weight_decay = 0;
  if (name == "sgd") {
    std::vector<optim::ParamGroup<optim::SgdOptions>> groups{{multi_d, sgd}};
    if (!one_d.empty()) groups.push_back({one_d, sgd_1d});
    set.optimizers.push_back(std::make_unique<optim::Sgd>(std::move(groups)));
  } else if (name == "adam" || name == "adamw") {
    optim::AdamOptions adam{lr, o["betas"][0], o["betas"][1], o["eps"], wd, false};
    optim::AdamOptions adam_1d = adam;
    if (!decay_1d) adam_1d.weight_decay = 0;
    std::vector<optim::ParamGroup<optim::AdamOptions>> groups{{multi_d, adam}};
    if (!one_d.empty()) groups.push_back({one_d, adam_1d});
    if (name == "adam") set.optimizers.push_back(std::make_unique<optim::Adam>(std::move(groups)));
    else set.optimizers.push_back(std::make_unique<optim::AdamW>(std::move(groups)));
  } else if (name == "madam" || name == "lns-madam") {
    // Multiplicative updates never move a zero: 1-D parameters (biases and BN shifts start at
    // zero) go to SGD.
    if (name == "madam") {
      optim::MadamOptions madam;
      madam.lr = lr;
      madam.p_scale = o["madam_p_scale"];
      set.optimizers.push_back(std::make_unique<optim::Madam>(multi_d, madam));
    } else {
      optim::LnsMadamOptions lns;
      lns.lr = lr;
      lns.p_scale = o["madam_p_scale"];
      set.optimizers.push_back(std::make_unique<optim::LnsMadam>(multi_d, lns));
    }
    if (!one_d.empty()) set.optimizers.push_back(std::make_unique<optim::Sgd>(one_d, sgd_1d));
  } else {
    fail("config: /optimizer/name: unknown optimizer '", name, "'");
  }
  return set;
}

optim::LrSchedule make_schedule(const json& config, int64_t steps_per_epoch) {
  const json& s = config["schedule"];
  const std::string name = s["name"];
  const int64_t warmup = s["warmup_iterations"];
  const int64_t total = config["training"]["epochs"].get<int64_t>() * steps_per_epoch;
  optim::LrSchedule schedule = optim::LrSchedule::constant();
  if (name == "step") {
    schedule = optim::LrSchedule::step(s["step_size"].get<int64_t>() * steps_per_epoch, s["gamma"]);
  } else if (name == "multistep") {
    std::vector<int64_t> milestones;
    for (const json& m : s["milestones"]) milestones.push_back(m.get<int64_t>() * steps_per_epoch);
    schedule = optim::LrSchedule::multistep(std::move(milestones), s["gamma"]);
  } else if (name == "cosine") {
    schedule = optim::LrSchedule::cosine(std::max<int64_t>(total - warmup, 1), s["eta_min"]);
  }
  return warmup > 0 ? schedule.with_warmup(warmup, s["warmup_start_factor"]) : schedule;
}

}  // namespace lpt
