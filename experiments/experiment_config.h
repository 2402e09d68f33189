#pragma once
// The experiment config: its schema (every key, default and range), loading with validation,
// and command-line overrides. Code reads the validated JSON through the accessors below.
#include <string>
#include <vector>

#include "experiments/schema.h"

namespace lpt {

const std::vector<SchemaField>& experiment_schema();

// Reads a JSON file, applies "--set key=value" overrides, validates and fills defaults. Errors name
// the file and the JSON path of the offending key.
json load_experiment(const std::string& path, const std::vector<std::string>& overrides = {});
json resolve_experiment(json config, const std::string& source, const std::vector<std::string>& overrides = {});

// Madam and LNS-Madam: updates that multiply, so they never move a zero.
bool is_multiplicative_optimizer(const std::string& name);

// The run directory: /output_dir, or runs/<name> when it is empty.
std::string run_directory(const json& config);

}  // namespace lpt
