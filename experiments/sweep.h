#pragma once
// `lpt sweep GRID.json`: a grid of training runs as one command. A grid is a base config plus axes
// (config key paths, each with a list of values; crossed, or zipped in groups), expanded into named
// runs that are validated before any starts, run N at a time as child `lpt train` processes, and
// gathered into one results table (CSV, Markdown) and one accuracy plot (SVG).
//
// A run is identified by a hash of its resolved config and thread count; the sweep's state file
// (written durably) maps identities to run directories and outcomes, so a second invocation skips
// finished runs, resumes interrupted ones and reruns, in a fresh directory, a run whose config or
// thread count changed.
#include <string>
#include <utility>
#include <vector>

#include "experiments/schema.h"

namespace lpt::sweep {

// The parts with `sep` between them.
std::string join(const std::vector<std::string>& parts, const std::string& sep);

// A config key path, dotted ("quantization.layers.0.weights") or a JSON pointer
// ("/quantization/layers/0/weights"); a number reaches a list element. Throws naming `what`.
std::vector<std::string> key_path(const std::string& key, const std::string& what);
std::string pointer(const std::vector<std::string>& path);  // "/quantization/layers/0/weights"
// Sets config[path] = value. Missing object members are created (as `--set` does); a list index
// must exist; a path through any other value is an error naming `what` and where it stopped.
void set_value(json& config, const std::vector<std::string>& path, const json& value, const std::string& what);

// How a value reads in a run name and the table: a format's name ("int4-pv16-s4"), null under
// /quantization as "fp32", a string as itself, anything else as compact JSON.
std::string value_name(const std::string& pointer, const json& value);

struct Axis {
  std::string key;                 // as written in the grid
  std::vector<std::string> path;   // key_path(key)
  std::string label;               // in run names and table columns (default: the key's last word,
                                   // or the whole key when two axes' last words are alike)
  bool explicit_label = false;     // given in the grid
  std::vector<json> values;
  std::vector<std::string> names;  // one per value, as run names show it
};
// Axes crossed with each other, in order (the first varies slowest); the axes of one group are
// zipped (value i of each together). A zipped group may name its value tuples itself, under one
// label or several (a grid of hand-picked cells: "label": ["method", "bits"], each value's names
// ["octav", "4"]), so a run's name and table columns need not follow its config keys.
struct AxisGroup {
  std::vector<Axis> axes;
  std::vector<std::string> labels;              // with `names`: the group's parts of a run name
  std::vector<std::vector<std::string>> names;  // per value, one per label; empty: each axis names itself
};
struct Grid {
  std::string source;  // the grid file, for messages
  std::string name;    // default: the file's stem
  std::string dir;     // default: runs/<name>
  json base;           // the base config as written (unresolved)
  std::vector<AxisGroup> groups;
  std::string plot_x;                      // "" = default (see sweep::plot_x)
  std::vector<std::string> plot_series;    // labels of axes or named groups; empty = default
  std::vector<std::string> labels;         // every label a run name has, in order
  std::string plot_reference;              // a run directory whose test accuracy is the reference line
};
// Checks every field (unknown keys, empty or mismatched axes, keys the sweep itself sets) and
// names the field, axis or value that is wrong. `base` as a string is a config file, relative to
// the grid file's folder.
Grid parse_grid(const json& grid, const std::string& source);
// `overrides` ("key.path=value", as lpt train --set) apply to the base config.
Grid load_grid(const std::string& path, const std::vector<std::string>& overrides = {});

struct Run {
  std::string name;                                 // "lr=0.1,weights=int4-pc"
  std::vector<std::pair<std::string, std::string>> parts;  // its name's (label, value name) pairs: table columns
  std::vector<std::pair<const Axis*, json>> values; // every axis with this run's value, in grid order
  json config;                                      // resolved; name set, output_dir empty until planned
  int threads = 0;
  std::string identity;                             // run_identity(config)
};
// Every run of the grid, each config resolved and validated as `lpt train` would (errors name the
// run, the axis and the value), with `threads` threads each. Two runs with one name or one
// identity are an error naming both.
std::vector<Run> expand(const Grid& grid, int threads);

// 16 hex digits: FNV-1a of the resolved config (without `name` and `output_dir`, which say where
// results go, not what is computed, and without null values, so that a key added later with a null
// default leaves identities as they were) and the thread count (results are bit-exact for a given
// count).
std::string run_identity(const json& resolved_config);

// The sweep's memory of its runs, one record per identity ever run.
struct Record {
  std::string name, identity, dir;
  std::string status;  // running (the sweep holding it died), finished, interrupted, failed
  int threads = 0;
  int exit_status = 0;
  std::string error;  // failed: the last error line of its log
};
struct State {
  std::vector<Record> records;
  const Record* find(const std::string& identity) const;  // null: never run
};
State read_state(const std::string& path);  // a missing file: no records
void write_state(const std::string& path, const State& state);

// What to do with each run on this invocation.
struct Planned {
  const Run* run = nullptr;
  std::string dir{};
  std::string status{};  // new, finished (skipped), resumable, changed (reruns in a fresh directory), retry (failed before)
  bool resume = false; // lpt train --resume DIR
  std::string why{};   // changed: what differs from the earlier run of that name
};
std::vector<Planned> plan(const Grid& grid, const std::vector<Run>& runs, const State& state);

struct Options {
  std::string grid;
  std::vector<std::string> overrides;  // --set key.path=value on the base config
  bool dry_run = false;
  int parallel = 1;
  int threads = 0;        // the sweep's threads in all (0: the base config's `threads`)
  std::string x;          // the plot's x (overrides the grid's plot.x)
  std::string reference;  // a run directory: its final test accuracy is the plot's reference line
  std::string plot;       // the plot's file, .svg or .png ("": <dir>/results.svg)
};
// Runs the sweep; returns the exit status: 0 when every run finished, 1 when any failed, 128 + the
// signal's number when interrupted.
int run_sweep(const Options& options);

// Throws naming `what` unless x is "bits_per_value", "activation_bits", a label of the grid's run
// names (x is then its value names, as numbers where they read as numbers) or a config key path.
void check_plot_x(const Grid& grid, const std::string& x, const std::string& what);
// The plot's x: `requested` (--x), else the grid's plot.x, else "bits_per_value" when any run is
// quantized, else the first axis's key; checked (an unknown key is an error naming --x).
std::string plot_x(const Grid& grid, const std::vector<Run>& runs, const std::string& requested);

// The results table of these runs (CSV and Markdown) into the grid's dir, and the plot (x as
// Options::x; `plot_path` "" is <dir>/results.svg).
struct Outputs {
  std::string csv, markdown, svg;
};
Outputs write_results(const Grid& grid, const std::vector<Run>& runs, const State& state, const std::string& x,
                      const std::string& reference, const std::string& plot_path);

}  // namespace lpt::sweep
