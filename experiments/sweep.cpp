#include "experiments/sweep.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "core/durable_file.h"
#include "core/error.h"
#include "core/json_text.h"
#include "experiments/experiment_config.h"
#include "experiments/plot.h"
#include "experiments/report.h"
#include "experiments/run_files.h"
#include "formats/format.h"

namespace lpt::sweep {

namespace fs = std::filesystem;

namespace {

const char* kStateFile = "sweep-state.json";
const char* kRunConfig = "sweep-config.json";  // the resolved config a run was started with
const char* kLog = "train.log";                // the child's stdout and stderr

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Keeps run names usable as directory names and in a shell without quotes.
std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || std::string("._+-@").find(c) != std::string::npos ? c : '_';
  return out;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

// Object `o`'s keys must be among `allowed`; the error names the unknown one.
void check_keys(const json& o, const std::vector<std::string>& allowed, const std::string& where) {
  for (const auto& [k, v] : o.items())
    LPT_CHECK(std::find(allowed.begin(), allowed.end(), k) != allowed.end(), where, ": unknown key \"", k,
              "\" (expected ", join(allowed, ", "), ")");
}

std::vector<std::string> string_list(const json& j, size_t count, const std::string& where) {
  LPT_CHECK(j.is_array() && j.size() == count, where, ": expected a list of ", count, " strings (one per value)");
  std::vector<std::string> out;
  for (const json& s : j) {
    LPT_CHECK(s.is_string() && !s.get<std::string>().empty(), where, ": expected non-empty strings, got ", s.dump());
    out.push_back(sanitize(s.get<std::string>()));
  }
  return out;
}

Axis parse_axis(const json& a, const std::string& where) {
  LPT_CHECK(a.is_object(), where, ": expected an object {\"key\": ..., \"values\": [...]}, got ", a.dump().substr(0, 80));
  check_keys(a, {"key", "values", "label", "names"}, where);
  LPT_CHECK(a.contains("key") && a["key"].is_string(), where, ": \"key\" (a config key path) is required");
  Axis axis;
  axis.key = a["key"];
  const std::string w = where + " '" + axis.key + "'";
  axis.path = key_path(axis.key, w);
  // Where results go and how many threads a run gets are the sweep's to set.
  for (const char* own : {"name", "output_dir", "threads"})
    LPT_CHECK(axis.path.front() != own, w, ": /", own, " is set by the sweep",
              std::string(own) == "threads" ? " (use lpt sweep --threads and --parallel)" : " (each run's own)");
  LPT_CHECK(a.contains("values") && a["values"].is_array() && !a["values"].empty(), w,
            ": \"values\" must be a non-empty list");
  axis.values = a["values"].get<std::vector<json>>();
  const auto word = std::find_if(axis.path.rbegin(), axis.path.rend(), [](const std::string& p) { return !is_index(p); });
  axis.label = a.contains("label") ? a["label"].get<std::string>() : word != axis.path.rend() ? *word : axis.path.back();
  axis.explicit_label = a.contains("label");
  LPT_CHECK(!axis.label.empty(), w, ": empty \"label\"");
  axis.label = sanitize(axis.label);
  if (a.contains("names")) axis.names = string_list(a["names"], axis.values.size(), w + ": \"names\"");
  else
    for (const json& v : axis.values) axis.names.push_back(sanitize(value_name(pointer(axis.path), v)));
  return axis;
}

// The run's parts of its name, (label, value name): one per named group, else one per axis.
std::vector<std::pair<std::string, std::string>> name_parts(const Grid& grid, const std::vector<size_t>& at) {
  std::vector<std::pair<std::string, std::string>> parts;
  for (size_t g = 0; g < grid.groups.size(); ++g) {
    const AxisGroup& group = grid.groups[g];
    if (!group.names.empty()) parts.emplace_back(group.label, group.names[at[g]]);
    else
      for (const Axis& a : group.axes) parts.emplace_back(a.label, a.names[at[g]]);
  }
  return parts;
}

// The JSON path at the start of a config error ("...: /optimizer/lr: expected ..."), "" if none.
std::string error_path(const std::string& message, const std::string& source) {
  const std::string prefix = source + ": ";
  if (message.rfind(prefix, 0) != 0 || message.size() <= prefix.size() || message[prefix.size()] != '/') return "";
  const size_t end = message.find(':', prefix.size());
  return message.substr(prefix.size(), end == std::string::npos ? std::string::npos : end - prefix.size());
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

const Record* find_identity(const State& s, const std::string& identity) {
  for (const Record& r : s.records)
    if (r.identity == identity) return &r;
  return nullptr;
}

// What differs between an earlier run's config and this one, as JSON paths: "/optimizer/lr 0.1 -> 0.05".
std::string config_changes(const std::string& old_config_path, const json& now) {
  if (!fs::is_regular_file(old_config_path)) return "its config is not on disk";
  json old = read_json(old_config_path), cur = now;
  for (json* c : {&old, &cur}) c->erase("name"), c->erase("output_dir");
  std::vector<std::string> changes;
  for (const json& op : json::diff(old, cur)) {
    const std::string path = op["path"];
    const json::json_pointer p(path);
    const std::string was = old.contains(p) ? old[p].dump() : "(absent)";
    const std::string is = cur.contains(p) ? cur[p].dump() : "(absent)";
    changes.push_back(path + " " + was + " -> " + is);
    if (changes.size() == 4) break;
  }
  return changes.empty() ? "nothing (another lpt version?)" : join(changes, ", ");
}

// ---- Running children --------------------------------------------------------------------------

std::atomic<int> g_signals{0}, g_last_signal{0};
void on_sweep_signal(int signo) {
  g_last_signal = signo;
  ++g_signals;
}

// SIGINT/SIGTERM are counted, not acted on, while the sweep runs: the loop forwards each to the
// children (once: they checkpoint; twice: they exit at once, as lpt train does) and waits for them.
struct SignalScope {
  struct sigaction old_int {}, old_term {};
  SignalScope() {
    struct sigaction sa {};
    sa.sa_handler = on_sweep_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

// `lpt train ...` as a child in its own process group, so that Ctrl-C at a terminal reaches only
// the sweep (which forwards one signal) and not every child twice; stdout and stderr to `log`.
pid_t spawn_train(const std::vector<std::string>& args, const std::string& log) {
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  LPT_CHECK(fd >= 0, "sweep: cannot open '", log, "': ", std::strerror(errno));
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // the sweep killed outright: its runs checkpoint and stop
    if (getppid() != parent) _exit(127);
    dup2(fd, 1);
    dup2(fd, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv("/proc/self/exe", argv.data());
    const char msg[] = "lpt: error: sweep: cannot run /proc/self/exe\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  const int err = errno;
  close(fd);
  LPT_CHECK(pid > 0, "sweep: fork failed: ", std::strerror(err));
  setpgid(pid, pid);  // as the child does: whichever runs first, no Ctrl-C reaches it through the sweep's group
  return pid;
}

// The last line of the log from `offset` on that names an error, else its last non-empty line.
std::string last_error_line(const std::string& log, std::streamoff offset) {
  std::ifstream in(log);
  in.seekg(offset);
  std::string line, error, last;
  while (std::getline(in, line)) {
    const size_t cr = line.find_last_of('\r');  // a terminal-style progress line
    if (cr != std::string::npos) line = line.substr(cr + 1);
    if (line.empty()) continue;
    last = line;
    if (line.find("error") != std::string::npos) error = line;
  }
  return error.empty() ? last : error;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Holds the sweep directory's lock: two sweeps of one grid at once would run its runs twice. The
// descriptor is inherited by the runs (no O_CLOEXEC), so the lock lasts while any run of a killed
// sweep still writes its checkpoint.
struct DirLock {
  int fd = -1;
  explicit DirLock(const std::string& dir) {
    const std::string path = dir + "/sweep.lock";
    fd = open(path.c_str(), O_RDWR | O_CREAT, 0644);
    LPT_CHECK(fd >= 0, "sweep: cannot open '", path, "': ", std::strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      close(fd);
      fail("sweep: another lpt sweep, or a run of one, is running in '", dir, "' (it holds ", path, ")");
    }
  }
  ~DirLock() { close(fd); }
};

// ---- Results -------------------------------------------------------------------------------------

std::string percent(double fraction) {
  if (std::isnan(fraction)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100 * fraction);
  return buf;
}

std::string fixed(double v, int decimals) {
  if (std::isnan(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// The nominal bits per value (scale overheads included) of a quantization role's global format;
// fp32 (null) is 32.
double role_bits(const json& config, const char* role) {
  const json& f = config["quantization"][role];
  return f.is_null() ? 32.0 : formats::Format::parse(f).bits_per_value();
}

std::string mac_share_text(const json& share) {
  if (!share.is_object() || share.empty()) return "";
  std::vector<std::pair<double, std::string>> parts;
  for (const auto& [precision, s] : share.items()) parts.emplace_back(s.get<double>(), precision);
  std::sort(parts.rbegin(), parts.rend());
  std::vector<std::string> out;
  for (const auto& [s, precision] : parts) out.push_back(precision + " " + fixed(100 * s, 1) + "%");
  return join(out, "; ");
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string md_field(std::string s) {
  for (size_t p = 0; (p = s.find('|', p)) != std::string::npos; p += 2) s.replace(p, 1, "\\|");
  return s;
}

struct Row {
  const Run* run;
  const Record* record;  // null: never run
  RunSummary summary;
  bool has_metrics = false;
};

// The plot's x: "bits_per_value" (the weights' format), "activation_bits", or a config key. The
// pointer is the config key x stands for (the axes at or around it are on x, not series).
struct PlotX {
  std::string label, pointer;
  const char* role = nullptr;  // bits per value of this quantization role's format; null: the config value
};
PlotX plot_axis(const std::string& x, const std::string& what) {
  if (x == "bits_per_value") return {"weight bits per value", "/quantization/weights", "weights"};
  if (x == "activation_bits") return {"activation bits per value", "/quantization/activations", "activations"};
  const std::string p = pointer(key_path(x, what));
  return {p, p};
}

bool on_x(const Axis& a, const PlotX& x) {
  const std::string p = pointer(a.path);
  const auto within = [](const std::string& inner, const std::string& outer) {
    return inner == outer || inner.rfind(outer + "/", 0) == 0;
  };
  return within(p, x.pointer) || within(x.pointer, p);
}

plot::Panel accuracy_panel(const Grid& grid, const std::vector<Row>& rows, const std::string& x_key,
                           const std::string& reference, std::vector<plot::LegendEntry>& legend) {
  const PlotX x = plot_axis(x_key, "sweep: plot x '" + x_key + "'");
  // Series: the runs' values on the axes not on x (a zipped group moves together).
  std::vector<std::string> series_labels = grid.plot_series;
  if (series_labels.empty())
    for (const AxisGroup& g : grid.groups) {
      const bool moves_x = std::any_of(g.axes.begin(), g.axes.end(), [&](const Axis& a) { return on_x(a, x); });
      if (moves_x) continue;
      if (!g.names.empty()) series_labels.push_back(g.label);
      else
        for (const Axis& a : g.axes) series_labels.push_back(a.label);
    }
  const auto is_fp32 = [](const Run& r) {
    const json& q = r.config["quantization"];
    return q["weights"].is_null() && q["activations"].is_null() && q["errors"].is_null() &&
           q["weight_gradients"].is_null() && q["layers"].empty();
  };
  std::vector<double> fp32_accuracies;
  std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>> series;  // in grid order
  std::vector<std::string> categories;
  bool any_number = false;
  for (const Row& row : rows) {
    if (!row.has_metrics || std::isnan(row.summary.final_test_accuracy)) continue;
    const Run& r = *row.run;
    const double y = 100 * row.summary.final_test_accuracy;
    if (is_fp32(r)) fp32_accuracies.push_back(y);
    if (is_fp32(r) && x.role) continue;  // 32 bits would squeeze the quantized runs into a corner
    double xv;
    if (x.role) {
      xv = role_bits(r.config, x.role);
    } else {
      const json::json_pointer p(x.pointer);
      LPT_CHECK(r.config.contains(p), "sweep: plot x '", x_key, "': run '", r.name, "' has no ", x.pointer);
      const json& v = r.config[p];
      any_number |= v.is_number();
      if (v.is_number()) xv = v.get<double>();
      else {  // categories, in grid order
        const std::string n = value_name(x.pointer, v);
        auto it = std::find(categories.begin(), categories.end(), n);
        if (it == categories.end()) it = categories.insert(categories.end(), n);
        xv = double(it - categories.begin());
      }
    }
    std::vector<std::string> key;
    for (const auto& [label, name] : r.parts)
      if (std::find(series_labels.begin(), series_labels.end(), label) != series_labels.end())
        key.push_back(label + "=" + name);
    const std::string name = key.empty() ? "all runs" : join(key, ",");
    auto it = std::find_if(series.begin(), series.end(), [&](const auto& s) { return s.first == name; });
    if (it == series.end()) it = series.insert(series.end(), {name, {}});
    it->second.emplace_back(xv, y);
  }
  LPT_CHECK(categories.empty() || !any_number, "sweep: plot x '", x_key, "': mixes numbers and other values across runs");
  plot::Panel p{.title = "Test accuracy (final epoch)",
                .x = {.label = x.label, .categories = categories},
                .y = {.label = "test accuracy (%)", .bounds = {{0, 100}}}};
  size_t i = 0;
  for (auto& [name, points] : series) {
    std::sort(points.begin(), points.end());
    p.series.push_back({.colour = plot::colour(i), .marker = plot::Marker::circle, .points = points});
    legend.push_back({.label = name, .colour = plot::colour(i), .marker = plot::Marker::circle});
    ++i;
  }
  if (!reference.empty()) {
    const ReportRun ref = read_report_run(reference);
    const RunSummary s = summarize_run(ref);
    LPT_CHECK(!std::isnan(s.final_test_accuracy), "sweep: reference run '", reference, "' has no test accuracy");
    p.reference_y = 100 * s.final_test_accuracy;
    legend.push_back({.label = "reference: " + ref.name, .colour = 0x888888});
  } else if (!fp32_accuracies.empty()) {
    double sum = 0;
    for (double a : fp32_accuracies) sum += a;
    p.reference_y = sum / double(fp32_accuracies.size());
    legend.push_back({.label = "fp32 (reference)", .colour = 0x888888});
  }
  return p;
}

}  // namespace

// ---- Grid ----------------------------------------------------------------------------------------

std::vector<std::string> key_path(const std::string& key, const std::string& what) {
  LPT_CHECK(!key.empty(), what, ": empty key");
  std::vector<std::string> parts;
  if (key[0] == '/') {  // JSON pointer: ~1 is '/', ~0 is '~'
    size_t start = 1;
    while (true) {
      const size_t slash = key.find('/', start);
      std::string part = key.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      for (size_t p = 0; (p = part.find('~', p)) != std::string::npos; ++p) {
        LPT_CHECK(p + 1 < part.size() && (part[p + 1] == '0' || part[p + 1] == '1'), what, ": '", key,
                  "': '~' must be ~0 or ~1 in a JSON pointer");
        part.replace(p, 2, part[p + 1] == '0' ? "~" : "/");
      }
      parts.push_back(part);
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
  } else {
    std::stringstream ss(key);
    for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
    if (key.back() == '.') parts.push_back("");
  }
  for (const std::string& p : parts) LPT_CHECK(!p.empty(), what, ": '", key, "': empty key component");
  return parts;
}

std::string pointer(const std::vector<std::string>& path) {
  std::string out;
  for (std::string p : path) {
    for (size_t i = 0; (i = p.find_first_of("~/", i)) != std::string::npos; i += 2) p.replace(i, 1, p[i] == '~' ? "~0" : "~1");
    out += "/" + p;
  }
  return out;
}

void set_value(json& config, const std::vector<std::string>& path, const json& value, const std::string& what) {
  json* node = &config;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string at = i == 0 ? "the config" : "'" + pointer({path.begin(), path.begin() + long(i)}) + "'";
    const bool last = i + 1 == path.size();
    if (node->is_array()) {
      LPT_CHECK(is_index(path[i]), what, ": ", at, " is a list: '", path[i], "' is not an index");
      const size_t index = std::stoul(path[i]);
      LPT_CHECK(index < node->size(), what, ": ", at, " has ", node->size(), " element(s), no element ", index);
      node = &(*node)[index];
    } else {
      LPT_CHECK(node->is_object(), what, ": ", at, " is ", node->is_null() ? "null" : node->dump().substr(0, 40),
                ", not an object or a list (set it in the base, or in an earlier axis)");
      if (!last && !node->contains(path[i])) (*node)[path[i]] = json::object();
      node = &(*node)[path[i]];
    }
    if (last) *node = value;
  }
}

std::string value_name(const std::string& ptr, const json& value) {
  if (value.is_null()) return ptr.rfind("/quantization", 0) == 0 ? "fp32" : "null";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("type")) {
    try {
      return formats::Format::parse(value).name();
    } catch (const Error&) {  // not a valid format: validation will say why
    }
  }
  return value.dump();
}

Grid parse_grid(const json& g, const std::string& source) {
  LPT_CHECK(g.is_object(), source, ": expected a JSON object {\"base\": ..., \"axes\": [...]}");
  check_keys(g, {"name", "base", "output_dir", "axes", "plot"}, source);
  Grid grid;
  grid.source = source;
  grid.name = g.contains("name") ? g["name"].get<std::string>() : fs::path(source).stem().string();
  LPT_CHECK(!grid.name.empty() && sanitize(grid.name) == grid.name, source, ": /name: '", grid.name,
            "': use letters, digits and ._+-@ (it names a directory)");
  grid.dir = g.contains("output_dir") ? g["output_dir"].get<std::string>() : "runs/" + grid.name;
  LPT_CHECK(g.contains("base"), source, ": /base is required: a config object, or the path of a config file");
  if (g["base"].is_string()) {
    fs::path p = g["base"].get<std::string>();
    if (p.is_relative()) p = fs::path(source).parent_path() / p;
    grid.base = read_json_file(p.string(), source + ": /base: config '" + p.string() + "'");
  } else {
    grid.base = g["base"];
  }
  LPT_CHECK(grid.base.is_object(), source, ": /base: expected a config object or a file path");
  LPT_CHECK(g.contains("axes") && g["axes"].is_array() && !g["axes"].empty(), source,
            ": /axes: expected a non-empty list of axes");
  std::set<std::string> keys, labels;
  for (size_t i = 0; i < g["axes"].size(); ++i) {
    const json& a = g["axes"][i];
    const std::string where = source + ": /axes/" + std::to_string(i);
    AxisGroup group;
    if (a.is_object() && a.contains("zip")) {
      check_keys(a, {"zip", "label", "names"}, where);
      LPT_CHECK(a["zip"].is_array() && !a["zip"].empty(), where, ": \"zip\" must be a non-empty list of axes");
      for (size_t j = 0; j < a["zip"].size(); ++j) group.axes.push_back(parse_axis(a["zip"][j], where + "/zip/" + std::to_string(j)));
      for (const Axis& ax : group.axes)
        LPT_CHECK(ax.values.size() == group.axes[0].values.size(), where, ": zipped axes need as many values each: '",
                  group.axes[0].key, "' has ", group.axes[0].values.size(), ", '", ax.key, "' has ", ax.values.size());
      if (a.contains("names")) {
        group.names = string_list(a["names"], group.axes[0].values.size(), where + ": \"names\"");
        group.label = a.contains("label") ? sanitize(a["label"].get<std::string>()) : group.axes[0].label;
      } else {
        LPT_CHECK(!a.contains("label"), where, ": \"label\" names the group's \"names\"; give both or neither");
      }
    } else {
      group.axes.push_back(parse_axis(a, where));
    }
    for (const Axis& ax : group.axes)
      LPT_CHECK(keys.insert(pointer(ax.path)).second, where, ": the key '", ax.key, "' is on two axes");
    grid.groups.push_back(std::move(group));
  }
  // Two default labels alike ("quantization.weights", "quantization.layers.0.weights"): both axes
  // are labelled by their whole key instead.
  std::map<std::string, int> uses;
  for (const AxisGroup& group : grid.groups)
    for (const Axis& ax : group.axes) ++uses[ax.label];
  for (AxisGroup& group : grid.groups)
    for (Axis& ax : group.axes) {
      if (!ax.explicit_label && uses[ax.label] > 1) ax.label = sanitize(join(ax.path, "."));
      LPT_CHECK(labels.insert(ax.label).second, source, ": two axes are labelled '", ax.label,
                "' (give one a \"label\")");
    }
  for (const AxisGroup& group : grid.groups)
    LPT_CHECK(group.names.empty() || labels.insert(group.label).second, source, ": the label '", group.label,
              "' is used twice");
  if (g.contains("plot")) {
    const json& p = g["plot"];
    const std::string where = source + ": /plot";
    LPT_CHECK(p.is_object(), where, ": expected an object");
    check_keys(p, {"x", "series", "reference"}, where);
    if (p.contains("x")) {
      grid.plot_x = p["x"].get<std::string>();
      plot_axis(grid.plot_x, where + "/x");
    }
    if (p.contains("series"))
      for (const json& s : p["series"]) {
        LPT_CHECK(s.is_string() && labels.count(s.get<std::string>()), where, "/series: ", s.dump(),
                  " is not a label of an axis or a named group (", join({labels.begin(), labels.end()}, ", "), ")");
        grid.plot_series.push_back(s);
      }
    if (p.contains("reference")) grid.plot_reference = p["reference"].get<std::string>();
  }
  return grid;
}

Grid load_grid(const std::string& path, const std::vector<std::string>& overrides) {
  const json g = read_json_file(path, "grid '" + path + "'");
  Grid grid;
  try {
    grid = parse_grid(g, path);
  } catch (const json::exception& e) {  // a field of the wrong type
    fail(path, ": ", e.what());
  }
  for (const std::string& o : overrides) apply_override(grid.base, o);
  return grid;
}

std::vector<Run> expand(const Grid& grid, int threads) {
  std::vector<size_t> at(grid.groups.size(), 0);
  size_t total = 1;
  for (const AxisGroup& g : grid.groups) total *= g.axes[0].values.size();
  LPT_CHECK(total <= 10000, grid.source, ": the grid has ", total, " runs; at most 10000");
  std::vector<Run> runs;
  for (size_t n = 0; n < total; ++n) {
    size_t rest = n;  // the last group varies fastest
    for (size_t g = grid.groups.size(); g-- > 0;) {
      at[g] = rest % grid.groups[g].axes[0].values.size();
      rest /= grid.groups[g].axes[0].values.size();
    }
    Run run;
    run.parts = name_parts(grid, at);
    std::vector<std::string> words;
    for (const auto& [label, name] : run.parts) words.push_back(label + "=" + name);
    run.name = join(words, ",");
    run.threads = threads;
    json config = grid.base;
    std::vector<std::string> described;
    for (size_t g = 0; g < grid.groups.size(); ++g)
      for (const Axis& a : grid.groups[g].axes) {
        const json& v = a.values[at[g]];
        set_value(config, a.path, v, grid.source + ": axis '" + a.key + "' = " + v.dump());
        run.values.emplace_back(&a, v);
        described.push_back("axis '" + a.key + "' = " + v.dump());
      }
    config["name"] = run.name;
    config["output_dir"] = "";
    config["threads"] = threads;
    const std::string source = grid.source + ": run '" + run.name + "'";
    try {
      run.config = resolve_experiment(config, source);
    } catch (const Error& e) {
      // Name the axis whose key the error is about; otherwise the whole combination is at fault.
      const std::string path = error_path(e.what(), source);
      for (const auto& [a, v] : run.values) {
        const std::string p = pointer(a->path);
        if (!path.empty() && (path == p || path.rfind(p + "/", 0) == 0 || p.rfind(path + "/", 0) == 0))
          fail(source, ": axis '", a->key, "' = ", v.dump(), ": ", std::string(e.what()).substr(source.size() + 2));
      }
      fail(source, " (", join(described, ", "), "): ", std::string(e.what()).substr(source.size() + 2));
    }
    run.identity = run_identity(run.config);
    for (const Run& other : runs) {
      LPT_CHECK(other.name != run.name, grid.source, ": two runs are named '", run.name,
                "' (values that read alike: give the axis \"names\")");
      LPT_CHECK(other.identity != run.identity, grid.source, ": runs '", other.name, "' and '", run.name,
                "' have the same resolved config");
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

std::string run_identity(const json& resolved_config) {
  json c = resolved_config;
  c.erase("name");
  c.erase("output_dir");
  return hex(fnv1a(c.dump() + "\nthreads=" + std::to_string(resolved_config.value("threads", 0))));
}

// ---- State ----------------------------------------------------------------------------------------

State read_state(const std::string& path) {
  State s;
  if (!fs::exists(path)) return s;
  const json j = read_json(path);
  LPT_CHECK(j.value("format", "") == "lpt-sweep-state" && j.value("version", 0) == 1, "sweep: '", path,
            "' is not an lpt sweep state (format lpt-sweep-state, version 1)");
  try {
    for (const json& r : j.at("runs"))
      s.records.push_back({r.at("name"), r.at("identity"), r.at("dir"), r.at("status"), r.at("threads"),
                           r.at("exit_status"), r.at("error")});
  } catch (const json::exception& e) {
    fail("sweep: '", path, "': ", e.what());
  }
  return s;
}

void write_state(const std::string& path, const State& state) {
  json runs = json::array();
  for (const Record& r : state.records)
    runs.push_back({{"name", r.name}, {"identity", r.identity}, {"dir", r.dir}, {"status", r.status},
                    {"threads", r.threads}, {"exit_status", r.exit_status}, {"error", r.error}});
  write_json_atomically(path, {{"format", "lpt-sweep-state"}, {"version", 1}, {"runs", runs}});
}

std::vector<Planned> plan(const Grid& grid, const std::vector<Run>& runs, const State& state) {
  std::set<std::string> taken;  // directories of other identities, on disk or planned
  for (const Record& r : state.records) taken.insert(r.dir);
  std::vector<Planned> out;
  for (const Run& run : runs) {
    Planned p{.run = &run};
    if (const Record* rec = find_identity(state, run.identity)) {
      p.dir = rec->dir;
      if (rec->status == "finished" && fs::is_regular_file(rec->dir + "/" + run_files::metrics)) {
        p.status = "finished";
      } else {
        p.resume = fs::is_regular_file(rec->dir + "/" + run_files::checkpoint);
        p.status = rec->status == "failed" ? "retry" : p.resume ? "resumable" : "new";
      }
    } else {
      const std::string base = grid.dir + "/" + run.name;
      p.dir = base;
      for (int k = 2; taken.count(p.dir) || fs::exists(p.dir); ++k) p.dir = base + "." + std::to_string(k);
      taken.insert(p.dir);
      p.status = "new";
      for (const Record& r : state.records)
        if (r.name == run.name) {  // the latest earlier run of this name
          p.status = "changed";
          p.why = r.threads != run.threads ? "threads " + std::to_string(r.threads) + " -> " + std::to_string(run.threads)
                                           : config_changes(r.dir + "/" + kRunConfig, run.config);
          p.why = "differs from " + r.dir + ": " + p.why;
        }
    }
    out.push_back(std::move(p));
  }
  return out;
}

// ---- The sweep ------------------------------------------------------------------------------------

Outputs write_results(const Grid& grid, const std::vector<Run>& runs, const State& state, const std::string& x,
                      const std::string& reference, const std::string& plot_path) {
  std::vector<Row> rows;
  for (const Run& run : runs) {
    Row row{&run, find_identity(state, run.identity), {}, false};
    if (row.record && fs::is_regular_file(row.record->dir + "/" + run_files::metrics) &&
        !read_metrics(row.record->dir).empty()) {
      row.summary = summarize_run(read_report_run(row.record->dir));
      row.has_metrics = true;
    }
    rows.push_back(row);
  }
  std::vector<std::string> header = {"run"};
  for (const auto& [label, name] : runs.at(0).parts) header.push_back(label);
  for (const char* h : {"status", "epochs", "test_acc_%", "best_test_acc_%", "val_acc_%", "images_per_s",
                        "weight_bits", "activation_bits", "mac_share", "error", "dir"})
    header.push_back(h);
  std::vector<std::vector<std::string>> table;
  for (const Row& row : rows) {
    const Run& r = *row.run;
    std::vector<std::string> cells = {r.name};
    for (const auto& [label, name] : r.parts) cells.push_back(name);
    const RunSummary& s = row.summary;
    cells.push_back(row.record ? row.record->status : "not run");
    cells.push_back((row.has_metrics ? std::to_string(s.epochs) : "0") + "/" +
                    std::to_string(r.config["training"]["epochs"].get<int64_t>()));
    cells.push_back(percent(s.final_test_accuracy));
    cells.push_back(percent(s.best_test_accuracy));
    cells.push_back(percent(s.final_val_accuracy));
    cells.push_back(fixed(s.images_per_second, 0));
    cells.push_back(fixed(role_bits(r.config, "weights"), 3));
    cells.push_back(fixed(role_bits(r.config, "activations"), 3));
    cells.push_back(mac_share_text(s.mac_share));
    cells.push_back(row.record && row.record->status == "failed" ? row.record->error : "");
    cells.push_back(row.record ? row.record->dir : "");
    table.push_back(cells);
  }
  Outputs out{grid.dir + "/results.csv", grid.dir + "/results.md", plot_path.empty() ? grid.dir + "/results.svg" : plot_path};
  std::string csv = join([&] {
    std::vector<std::string> h;
    for (const std::string& c : header) h.push_back(csv_field(c));
    return h;
  }(), ",") + "\n";
  std::string md = "| " + join(header, " | ") + " |\n|" + [&] {
    std::string s;
    for (size_t i = 0; i < header.size(); ++i) s += "---|";
    return s;
  }() + "\n";
  for (const auto& cells : table) {
    std::vector<std::string> c, m;
    for (const std::string& cell : cells) c.push_back(csv_field(cell)), m.push_back(md_field(cell));
    csv += join(c, ",") + "\n";
    md += "| " + join(m, " | ") + " |\n";
  }
  durable::write_text(out.csv, csv);
  durable::write_text(out.markdown, md);

  plot::Figure f;
  std::vector<plot::LegendEntry> legend;
  f.rows.push_back({accuracy_panel(grid, rows, x, reference, legend)});
  f.legend.push_back({.label = "Series"});
  for (auto& e : legend) f.legend.push_back(std::move(e));
  plot::render(f, out.svg);
  return out;
}

int run_sweep(const Options& o) {
  const Grid grid = load_grid(o.grid, o.overrides);
  LPT_CHECK(o.parallel >= 1, "sweep: --parallel must be at least 1");
  // The base's `threads` (or the schema's default): each run's config is validated below, the base alone may not be.
  const auto threads_key = std::find_if(experiment_schema().begin(), experiment_schema().end(),
                                        [](const SchemaField& f) { return f.key == "threads"; });
  const json base_threads = grid.base.contains("threads") ? grid.base["threads"] : threads_key->default_value;
  LPT_CHECK(o.threads > 0 || (base_threads.is_number_integer() && base_threads.get<int>() >= 1), o.grid,
            ": /base/threads: expected an integer >= 1, got ", base_threads.dump());
  const int total_threads = o.threads > 0 ? o.threads : base_threads.get<int>();
  LPT_CHECK(total_threads >= o.parallel, "sweep: ", total_threads, " thread(s) cannot be divided among ", o.parallel,
            " parallel runs (raise --threads or lower --parallel)");
  const int threads = total_threads / o.parallel;
  std::vector<Run> runs = expand(grid, threads);
  // Held from planning to the end, so that two sweeps of one directory never plan on one state.
  std::optional<DirLock> lock;
  if (!o.dry_run) {
    fs::create_directories(grid.dir);
    lock.emplace(grid.dir);
  }
  const std::string state_path = grid.dir + "/" + kStateFile;
  State state = read_state(state_path);
  const std::vector<Planned> planned = plan(grid, runs, state);
  std::string x = !o.x.empty() ? o.x : grid.plot_x;
  if (x.empty()) {
    const bool quantized = std::any_of(runs.begin(), runs.end(), [](const Run& r) { return !r.config["quantization"]["weights"].is_null(); });
    x = quantized ? "bits_per_value" : grid.groups[0].axes[0].key;
  }
  plot_axis(x, "sweep: --x");
  const std::string reference = !o.reference.empty() ? o.reference : grid.plot_reference;
  if (!reference.empty()) read_report_run(reference);  // a missing reference run is an error now, not after the runs
  const std::string ext = fs::path(o.plot).extension().string();
  LPT_CHECK(o.plot.empty() || ext == ".svg" || ext == ".png", "sweep: --plot '", o.plot, "': expected NAME.svg or NAME.png");

  size_t to_run = 0;
  for (const Planned& p : planned) to_run += p.status != "finished";
  std::printf("lpt sweep '%s': %zu run(s), %zu to run, %d at a time with %d thread(s) each, in %s\n", grid.name.c_str(),
              runs.size(), to_run, o.parallel, threads, grid.dir.c_str());
  for (const Planned& p : planned) {
    std::vector<std::string> values;
    for (const auto& [a, v] : p.run->values) {  // as resolved: a later axis may have changed part of it
      const json::json_pointer at(pointer(a->path));
      values.push_back(pointer(a->path) + " = " + (p.run->config.contains(at) ? p.run->config[at] : v).dump());
    }
    std::printf("  %-9s  %s  %s  [%s]%s%s\n", p.status.c_str(), p.run->name.c_str(), p.dir.c_str(), join(values, ", ").c_str(),
                p.why.empty() ? "" : "\n             changed: ", p.why.c_str());
  }
  std::fflush(stdout);
  if (o.dry_run) return 0;

  const auto record_of = [&state](const Planned& p) -> Record& {
    for (Record& r : state.records)
      if (r.identity == p.run->identity) return r;
    state.records.push_back({p.run->name, p.run->identity, p.dir, "", p.run->threads, 0, ""});
    return state.records.back();
  };

  struct Child {
    pid_t pid;
    const Planned* planned;
    std::streamoff log_offset;
  };
  std::vector<Child> children;
  std::vector<const Planned*> queue;
  for (const Planned& p : planned)
    if (p.status != "finished") queue.push_back(&p);
  std::reverse(queue.begin(), queue.end());  // pop_back takes them in grid order

  const SignalScope signals;
  g_signals = 0;
  int forwarded = 0;
  bool any_failed = false;
  while (!queue.empty() || !children.empty()) {
    while (g_signals == 0 && !queue.empty() && int(children.size()) < o.parallel) {
      const Planned& p = *queue.back();
      queue.pop_back();
      fs::create_directories(p.dir);
      json config = p.run->config;
      config["output_dir"] = p.dir;
      write_json_atomically(p.dir + "/" + kRunConfig, config);
      const std::vector<std::string> args =
          p.resume ? std::vector<std::string>{"lpt", "train", "--resume", p.dir}
                   : std::vector<std::string>{"lpt", "train", p.dir + "/" + kRunConfig};
      if (!p.resume) fs::remove(p.dir + "/" + run_files::metrics);  // a restart: no epochs of an earlier attempt
      const std::string log = p.dir + "/" + kLog;
      {
        std::ofstream(log, std::ios::app) << "== lpt sweep " << now_utc() << ": " << join(args, " ") << "\n";
      }
      const std::streamoff offset = std::streamoff(fs::file_size(log));
      Record& rec = record_of(p);
      rec.status = "running", rec.error = "", rec.exit_status = 0, rec.dir = p.dir;
      write_state(state_path, state);
      children.push_back({spawn_train(args, log), &p, offset});
      std::printf("  started   %s%s\n", p.run->name.c_str(), p.resume ? " (resuming)" : "");
      std::fflush(stdout);
    }
    if (g_signals > forwarded) {  // the same signal to every running child, once per signal received
      forwarded = g_signals;
      for (const Child& c : children) kill(c.pid, g_last_signal);
    }
    bool reaped = false;
    for (size_t i = 0; i < children.size(); ++i) {
      int st = 0;
      if (waitpid(children[i].pid, &st, WNOHANG) != children[i].pid) continue;
      const Planned& p = *children[i].planned;
      Record& rec = record_of(p);
      const std::string log = p.dir + "/" + kLog;
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        rec.status = "finished", rec.exit_status = 0;
      } else if (WIFEXITED(st) && (WEXITSTATUS(st) == 128 + SIGINT || WEXITSTATUS(st) == 128 + SIGTERM)) {
        rec.status = "interrupted", rec.exit_status = WEXITSTATUS(st);  // checkpointed
      } else if (WIFSIGNALED(st) && g_signals > 0) {
        rec.status = "interrupted", rec.exit_status = 128 + WTERMSIG(st);  // stopped before training began
      } else {
        rec.status = "failed";
        rec.exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        rec.error = last_error_line(log, children[i].log_offset);
        if (WIFSIGNALED(st)) rec.error = "killed by signal " + std::to_string(WTERMSIG(st)) + (rec.error.empty() ? "" : ": " + rec.error);
        if (rec.error.empty()) rec.error = "exit status " + std::to_string(rec.exit_status);
        any_failed = true;
      }
      write_state(state_path, state);
      std::printf("  %-9s %s%s%s\n", rec.status.c_str(), p.run->name.c_str(), rec.error.empty() ? "" : ": ", rec.error.c_str());
      std::fflush(stdout);
      children.erase(children.begin() + long(i));
      reaped = true;
      break;
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  const Outputs out = write_results(grid, runs, state, x, reference, o.plot);
  std::printf("wrote %s, %s, %s\n", out.csv.c_str(), out.markdown.c_str(), out.svg.c_str());
  if (g_signals > 0) {
    std::printf("lpt sweep: interrupted; run it again to continue\n");
    return 128 + g_last_signal;
  }
  if (any_failed) std::printf("lpt sweep: some runs failed (see the table's error column and their train.log)\n");
  const bool all_finished = std::all_of(runs.begin(), runs.end(), [&](const Run& r) {
    const Record* rec = find_identity(state, r.identity);
    return rec && rec->status == "finished";
  });
  if (!all_finished && !any_failed) std::printf("lpt sweep: some runs were interrupted; run it again to continue\n");
  return all_finished ? 0 : 1;
}

}  // namespace lpt::sweep
