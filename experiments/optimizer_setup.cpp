#include "experiments/optimizer_setup.h"

#include "experiments/experiment_config.h"
#include "optimizers/adam.h"
#include "optimizers/lns_madam.h"
#include "optimizers/madam.h"
#include "optimizers/sgd.h"

namespace lpt {

void OptimizerSet::set_iteration(int64_t t) {
  for (size_t i = 0; i < optimizers.size(); ++i) schedules[i].apply(*optimizers[i], t);
}

void OptimizerSet::step() {
  for (auto& o : optimizers) o->step();
}

void OptimizerSet::zero_grad() {
  for (auto& o : optimizers) o->zero_grad();
}

namespace {

// One optimizer over `params` from the settings `o` (keys as under /optimizer).
std::unique_ptr<optim::Optimizer> make_optimizer(const json& o, const json& config, std::vector<Variable> params) {
  const std::string name = o["name"];
  const double lr = o["lr"], wd = o["weight_decay"];
  if (name == "sgd")
    return std::make_unique<optim::Sgd>(std::move(params),
                                        optim::SgdOptions{lr, o["momentum"], o["dampening"], wd, o["nesterov"]});
  if (name == "adam" || name == "adamw") {
    const optim::AdamOptions adam{lr, o["betas"][0], o["betas"][1], o["eps"], wd, false};
    if (name == "adam") return std::make_unique<optim::Adam>(std::move(params), adam);
    return std::make_unique<optim::AdamW>(std::move(params), adam);
  }
  if (name == "madam") {
    optim::MadamOptions madam;
    madam.lr = lr;
    madam.p_scale = o["madam_p_scale"];
    return std::make_unique<optim::Madam>(std::move(params), madam);
  }
  LPT_CHECK(name == "lns-madam", "config: /optimizer/name: unknown optimizer '", name, "'");
  optim::LnsMadamOptions lns;
  lns.lr = lr;
  lns.p_scale = o["madam_p_scale"];
  lns.master = o["master_weights"] == "fp32" ? optim::MasterWeights::fp32 : optim::MasterWeights::lns16;
  lns.master_gamma = o["master_gamma"];
  lns.update_rounding =
      o["update_rounding"] == "stochastic" ? optim::UpdateRounding::stochastic : optim::UpdateRounding::nearest;
  lns.seed = config["seed"];
  return std::make_unique<optim::LnsMadam>(std::move(params), lns);
}

optim::LrSchedule make_schedule(const json& s, int64_t total_iterations, int64_t steps_per_epoch) {
  const std::string name = s["name"];
  const int64_t warmup = s["warmup_iterations"];
  optim::LrSchedule schedule = optim::LrSchedule::constant();
  if (name == "step") {
    schedule = optim::LrSchedule::step(s["step_size"].get<int64_t>() * steps_per_epoch, s["gamma"]);
  } else if (name == "multistep") {
    std::vector<int64_t> milestones;
    for (const json& m : s["milestones"]) milestones.push_back(m.get<int64_t>() * steps_per_epoch);
    schedule = optim::LrSchedule::multistep(std::move(milestones), s["gamma"]);
  } else if (name == "cosine") {
    schedule = optim::LrSchedule::cosine(std::max<int64_t>(total_iterations - warmup, 1), s["eta_min"]);
  }
  return warmup > 0 ? schedule.with_warmup(warmup, s["warmup_start_factor"]) : schedule;
}

// /optimizer with /optimizer/params_1d's keys laid over it.
json one_d_settings(const json& o) {
  const json& p = o["params_1d"];
  json out = o;
  for (const auto& [key, value] : p.items())
    if (!value.is_null() && key != "schedule") out[key] = value;
  if (is_multiplicative_optimizer(o["name"]) && p["name"].is_null()) out["name"] = "sgd";
  return out;
}

}  // namespace

OptimizerSet make_optimizers(const json& config, const Module& model, int64_t steps_per_epoch) {
  const json& o = config["optimizer"];
  const int64_t total = config["training"]["epochs"].get<int64_t>() * steps_per_epoch;
  const auto split = optim::split_params(model.parameters(), {optim::has_ndim(1)});
  OptimizerSet set;
  set.optimizers.push_back(make_optimizer(o, config, split[1]));
  set.schedules.push_back(make_schedule(config["schedule"], total, steps_per_epoch));
  if (!split[0].empty()) {
    const json& schedule_1d = o["params_1d"]["schedule"];
    set.optimizers.push_back(make_optimizer(one_d_settings(o), config, split[0]));
    set.schedules.push_back(
        make_schedule(schedule_1d.is_null() ? config["schedule"] : schedule_1d, total, steps_per_epoch));
  }
  return set;
}

}  // namespace lpt
