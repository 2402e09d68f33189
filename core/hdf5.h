#pragma once
// A small RAII layer over the HDF5 C API for checkpoints, exports, `lpt quantize` and HDF5
// datasets. Names may be nested paths ("model/layer1.0.conv1.weight"); intermediate groups are
// created on write. Every error names the file and the object.
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lpt::h5 {

// Whether open_read() first reads a file in a child process (the default; see core/hdf5.cpp). The
// libFuzzer harnesses switch it off: a fork per input would slow them thirtyfold, and a crash
// inside the HDF5 library is a finding they should report, not hide.
void set_child_check(bool on);

class File {
 public:
  static File open_read(const std::string& path);
  static File create(const std::string& path);  // truncates
  static File open_write(const std::string& path);  // an existing file, to change in place
  File(File&& o) noexcept;
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const;  // a dataset or group
  bool is_dataset(const std::string& name) const;
  // Names of the direct members of a group, sorted.
  std::vector<std::string> members(const std::string& group = "/") const;
  // Every dataset below a group, as full paths relative to it, sorted.
  std::vector<std::string> datasets(const std::string& group = "/") const;

  void create_group(const std::string& name);  // with intermediate groups; no-op if it exists

  // Datasets of f32, s8, u8 or s32 tensors (contiguous copy written; logical shape kept).
  void write(const std::string& name, const Tensor& t);
  Tensor read(const std::string& name) const;  // dtype and shape from the file
  DType dtype(const std::string& name) const;  // error for types lpt does not read
  Shape shape(const std::string& name) const;

  // Attributes on a dataset or group ("/" is the file).
  void set_attr(const std::string& obj, const std::string& key, const std::string& value);
  void set_attr(const std::string& obj, const std::string& key, double value);
  void set_attr(const std::string& obj, const std::string& key, int64_t value);
  bool has_attr(const std::string& obj, const std::string& key) const;
  std::vector<std::string> attributes(const std::string& obj) const;  // names, sorted
  std::string attr_string(const std::string& obj, const std::string& key) const;
  double attr_double(const std::string& obj, const std::string& key) const;
  int64_t attr_int(const std::string& obj, const std::string& key) const;

  // Closes the file, throwing (naming it) when HDF5 cannot write what it still buffers.
  void close();

 private:
  File(hid_t id, std::string path) : id_(id), path_(std::move(path)) {}
  hid_t open_object(const std::string& name) const;
  std::vector<std::string> datasets_below(const std::string& group, int depth) const;
  hid_t id_ = -1;
  std::string path_;
};

// Writes a file as `path`.tmp, closes it (checked), fsyncs it, renames it over `path` and fsyncs
// the directory (core/durable_file.h): a crash, power loss or full disk mid-write never destroys
// the last good file; any failure removes the temporary and throws naming the file and the step.
void write_atomically(const std::string& path, const std::function<void(File&)>& fill);

}  // namespace lpt::h5
