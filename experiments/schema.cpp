#include "experiments/schema.h"

#include <sstream>

#include "core/json_text.h"
#include "core/error.h"

namespace lpt {

namespace {

using Kind = SchemaField::Kind;

std::string kind_name(Kind k) {
  switch (k) {
    case Kind::boolean: return "boolean";
    case Kind::integer: return "integer";
    case Kind::number: return "number";
    case Kind::string: return "string";
    case Kind::number_list: return "list of numbers";
    case Kind::integer_list: return "list of integers";
    case Kind::object: return "object";
    case Kind::any: return "JSON value";
    case Kind::removed: return "removed";
  }
  return "?";
}

void check_range(const SchemaField& f, double v, const std::string& where) {
  if (f.min && v < *f.min) fail(where, ": expected ", kind_name(f.kind), " >= ", *f.min, ", got ", v);
  if (f.max && f.max_exclusive && v >= *f.max)
    fail(where, ": expected ", kind_name(f.kind), " < ", *f.max, ", got ", v);
  if (f.max && v > *f.max) fail(where, ": expected ", kind_name(f.kind), " <= ", *f.max, ", got ", v);
}

json validate_value(const json& v, const SchemaField& f, const std::string& path, const std::string& source);

json validate_object(const json& obj, const std::vector<SchemaField>& fields, const std::string& path,
                     const std::string& source) {
  const std::string where = source + ": " + (path.empty() ? "/" : path);
  LPT_CHECK(obj.is_object(), where, ": expected an object, got ", obj.dump());
  for (const auto& [key, value] : obj.items()) {
    bool known = false;
    for (const SchemaField& f : fields) known = known || f.key == key;
    if (!known) {
      std::string names;
      for (const SchemaField& f : fields) names += (names.empty() ? "" : ", ") + f.key;
      fail(source, ": ", path, "/", key, ": unknown key (known keys here: ", names, ")");
    }
  }
  json out = json::object();
  for (const SchemaField& f : fields) {
    const std::string child = path + "/" + f.key;
    if (obj.contains(f.key)) {
      out[f.key] = validate_value(obj.at(f.key), f, child, source);
    } else if (f.kind == Kind::removed) {
      continue;
    } else if (f.kind == Kind::object && !f.optional) {
      out[f.key] = validate_object(json::object(), f.fields, child, source);
    } else if (!f.default_value.is_null()) {
      out[f.key] = f.default_value;
    } else if (f.optional) {
      out[f.key] = nullptr;
    } else {
      fail(source, ": ", child, ": required key is missing (", f.help, ")");
    }
  }
  return out;
}

json validate_value(const json& v, const SchemaField& f, const std::string& path, const std::string& source) {
  const std::string where = source + ": " + path;
  auto expect = [&](bool ok) {
    if (!ok) fail(where, ": expected ", kind_name(f.kind), ", got ", v.dump());
  };
  if (v.is_null() && f.optional) return v;
  switch (f.kind) {
    case Kind::removed: fail(where, ": this key was removed: ", f.help);
    case Kind::boolean: expect(v.is_boolean()); break;
    case Kind::integer:
      expect(v.is_number_integer());
      check_range(f, v.get<double>(), where);
      break;
    case Kind::number:
      expect(v.is_number());
      check_range(f, v.get<double>(), where);
      break;
    case Kind::string:
      expect(v.is_string());
      if (!f.choices.empty()) {
        bool ok = false;
        std::string list;
        for (const std::string& c : f.choices) {
          ok = ok || c == v.get<std::string>();
          list += (list.empty() ? "" : ", ") + c;
        }
        if (!ok) fail(where, ": expected one of ", list, ", got ", v.dump());
      }
      break;
    case Kind::number_list:
    case Kind::integer_list:
      expect(v.is_array());
      if (f.min_items && v.size() < *f.min_items)
        fail(where, ": expected at least ", *f.min_items, " element(s), got ", v.size(), ": ", v.dump());
      if (f.max_items && v.size() > *f.max_items)
        fail(where, ": expected at most ", *f.max_items, " element(s), got ", v.size(), ": ", v.dump());
      for (size_t i = 0; i < v.size(); ++i) {
        const bool ok = f.kind == Kind::integer_list ? v[i].is_number_integer() : v[i].is_number();
        if (!ok) fail(where, "/", i, ": expected a ", f.kind == Kind::integer_list ? "integer" : "number", ", got ",
                      v[i].dump());
        check_range(f, v[i].get<double>(), where + "/" + std::to_string(i));
      }
      break;
    case Kind::object: return validate_object(v, f.fields, path, source);
    case Kind::any: break;
  }
  return v;
}

void describe(const std::vector<SchemaField>& fields, const std::string& path, std::ostringstream& os) {
  for (const SchemaField& f : fields) {
    const std::string p = path + "/" + f.key;
    if (f.kind == Kind::removed) {
      os << p << "  removed: " << f.help << "\n";
      continue;
    }
    if (f.kind == Kind::object) {
      os << p << "  object" << (f.optional ? ", optional" : "") << "  " << f.help << "\n";
      describe(f.fields, p, os);
      continue;
    }
    os << p << "  " << kind_name(f.kind);
    if (!f.choices.empty()) {
      os << " (";
      for (size_t i = 0; i < f.choices.size(); ++i) os << (i ? "|" : "") << f.choices[i];
      os << ")";
    }
    if (f.min || f.max) {
      os << " in [";
      if (f.min) os << *f.min;
      else os << "-inf";
      os << ", ";
      if (f.max) os << *f.max;
      else os << "inf";
      os << (f.max_exclusive ? ")" : "]");
    }
    if (f.min_items && f.min_items == f.max_items) os << ", exactly " << *f.min_items << " element(s)";
    else if (f.min_items || f.max_items)
      os << ", " << f.min_items.value_or(0) << ".." << (f.max_items ? std::to_string(*f.max_items) : "") << " elements";
    if (!f.default_value.is_null()) os << ", default " << f.default_value.dump();
    else if (f.optional) os << ", optional";
    else os << ", required";
    os << "  " << f.help << "\n";
  }
}

}  // namespace

json validate(const json& config, const std::vector<SchemaField>& schema, const std::string& source) {
  return validate_object(config, schema, "", source);
}

std::string describe_schema(const std::vector<SchemaField>& schema) {
  std::ostringstream os;
  describe(schema, "", os);
  return os.str();
}

void apply_override(json& config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  LPT_CHECK(eq != std::string::npos && eq > 0, "--set '", assignment, "': expected key.path=value");
  const std::string key = json_string_text(assignment.substr(0, eq), "--set: the key path").get<std::string>();
  const std::string text = assignment.substr(eq + 1);
  // A bare word is a string; JSON text is checked as a config file is.
  const json value = json::accept(text) ? parse_json_text(text, "--set '" + key + "'")
                                        : json_string_text(text, "--set '" + key + "'");
  json* node = &config;
  size_t start = 0;
  while (true) {
    LPT_CHECK(node->is_object(), "--set '", assignment, "': ",
              start == 0 ? "the config" : "'" + key.substr(0, start - 1) + "'", " is not an object");
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    LPT_CHECK(!part.empty(), "--set '", assignment, "': empty key component");
    if (dot == std::string::npos) {
      (*node)[part] = value;
      return;
    }
    if (!node->contains(part)) (*node)[part] = json::object();
    node = &(*node)[part];
    start = dot + 1;
  }
}

}  // namespace lpt
