#include "experiments/sweep.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "core/json_text.h"
#include "core/philox.h"
#include "experiments/experiment_config.h"
#include "formats/format.h"

namespace lpt::sweep {

namespace fs = std::filesystem;

namespace {

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Keeps run names usable as directory names and in a shell without quotes.

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || std::string("._+-@").find(c) != std::string::npos ? c : '_';
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
    if (!group.names.empty())
      for (size_t i = 0; i < group.labels.size(); ++i) parts.emplace_back(group.labels[i], group.names[at[g]][i]);
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


std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
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
    std::string at = "the config";
    if (i > 0) {  // quoted by insert/push_back: GCC 12's -Wrestrict misfires on "'" + s + "'" here
      at = pointer({path.begin(), path.begin() + long(i)});
      at.insert(0, 1, '\'');
      at.push_back('\'');
    }
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
        const size_t values = group.axes[0].values.size();
        if (a.contains("label") && a["label"].is_array()) {
          group.labels = string_list(a["label"], a["label"].size(), where + ": \"label\"");
          LPT_CHECK(!group.labels.empty(), where, ": \"label\": expected a non-empty list of labels");
          LPT_CHECK(a["names"].is_array() && a["names"].size() == values, where, ": \"names\": expected a list of ",
                    values, " lists (one per value) of ", group.labels.size(), " names (one per label)");
          for (size_t v = 0; v < values; ++v)
            group.names.push_back(string_list(a["names"][v], group.labels.size(),
                                              where + ": \"names\"/" + std::to_string(v)));
        } else {
          group.labels = {a.contains("label") ? sanitize(a["label"].get<std::string>()) : group.axes[0].label};
          for (const std::string& n : string_list(a["names"], values, where + ": \"names\"")) group.names.push_back({n});
        }
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
      // A named group's axes do not name runs: only its own labels need be unique.
      LPT_CHECK(!group.names.empty() || labels.insert(ax.label).second, source, ": two axes are labelled '",
                ax.label, "' (give one a \"label\")");
    }
  for (const AxisGroup& group : grid.groups)
    for (const std::string& label : group.labels)
      LPT_CHECK(group.names.empty() || labels.insert(label).second, source, ": the label '", label, "' is used twice");
  for (const AxisGroup& group : grid.groups)
    if (group.names.empty())
      for (const Axis& ax : group.axes) grid.labels.push_back(ax.label);
    else
      grid.labels.insert(grid.labels.end(), group.labels.begin(), group.labels.end());
  if (g.contains("plot")) {
    const json& p = g["plot"];
    const std::string where = source + ": /plot";
    LPT_CHECK(p.is_object(), where, ": expected an object");
    check_keys(p, {"x", "series", "reference"}, where);
    if (p.contains("x")) {
      grid.plot_x = p["x"].get<std::string>();
      check_plot_x(grid, grid.plot_x, where + "/x");
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

namespace {
// The config without null values and the objects they leave empty (list elements stay: their
// position means something). A key added to lpt later with a null default, as most optional keys
// have, then does not change the identity of runs that predate it.
json without_nulls(const json& j) {
  if (!j.is_object()) return j;
  json out = json::object();
  for (const auto& [key, v] : j.items()) {
    json kept = without_nulls(v);
    if (!kept.is_null() && !(kept.is_object() && kept.empty() && !v.empty())) out[key] = std::move(kept);
  }
  return out;
}
}  // namespace

std::string run_identity(const json& resolved_config) {
  json c = without_nulls(resolved_config);
  c.erase("name");
  c.erase("output_dir");
  const std::string text = c.dump() + "\nthreads=" + std::to_string(resolved_config.value("threads", 0));
  return hex(stable_hash(text.c_str()));  // FNV-1a; dump() escapes NUL, so the text ends at its end
}

}  // namespace lpt::sweep
