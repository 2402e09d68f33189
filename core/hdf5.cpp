#include "core/hdf5.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include "core/durable_file.h"

namespace lpt::h5 {

namespace {
// HDF5 prints its own error stacks by default; lpt reports errors itself. lpt closes every file
// it opens, so HDF5's exit handler has nothing to do, and after a close that failed (a full disk)
// HDF5 1.10.8's handler crashes (SIGSEGV in H5F__close_cb): it is switched off.
void silence_hdf5() {
  static const bool done = [] {
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

struct Handle {  // closes an HDF5 id with the right function
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

hid_t native_type(DType t) {
  switch (t) {
    case DType::f32: return H5T_NATIVE_FLOAT;
    case DType::s8: return H5T_NATIVE_INT8;
    case DType::u8: return H5T_NATIVE_UINT8;
    case DType::s16: return H5T_NATIVE_INT16;
    case DType::s32: return H5T_NATIVE_INT32;
    default: fail("HDF5: cannot store dtype ", dtype_name(t));
  }
}

// Every non-empty dataset is stored in chunks with HDF5's Fletcher-32 checksum, so a flipped or
// truncated byte in the data fails the read (naming the dataset) instead of loading garbage.
// Chunks hold whole leading-axis slices of at most ~64 MiB. Scalars stay contiguous (no filter).
hid_t checksummed_layout(const std::vector<hsize_t>& dims, size_t element_bytes) {
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  size_t n = 1;
  for (hsize_t d : dims) n *= size_t(d);
  if (dims.empty() || n == 0) return dcpl;
  std::vector<hsize_t> chunk = dims;
  const size_t slice_bytes = n / size_t(dims[0]) * element_bytes;
  chunk[0] = std::clamp<hsize_t>(hsize_t((size_t(64) << 20) / std::max<size_t>(slice_bytes, 1)), 1, dims[0]);
  H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
  H5Pset_fletcher32(dcpl);
  return dcpl;
}
// ---- reading an untrusted file in a child process first ---------------------------------------
// Debian's HDF5 1.10.8 itself crashes or loops on some crafted files (in its object-header, B-tree
// and filter code). So before lpt opens a file, a forked child opens it and reads all of it that
// lpt could read — every object reached by hard links, every attribute, every dataset of a sane
// declared size — with HDF5's C API alone (no OpenMP, no lpt state), then exits without any exit
// handler (_exit). Only if the child ends normally does lpt open the file itself; a crash or a
// child still busy after kVetSeconds becomes an error naming the file.

constexpr int kVetSeconds = 10;

struct VetLimits {
  double max_bytes;  // a dataset or attribute is read only up to this declared size
};

// Reads an object's attributes and, for a dataset, its data (fixed-size types, sane sizes).
void vet_object(hid_t obj, const VetLimits& limits) {
  const auto read_all = [&](hid_t type, hid_t space, auto&& read) {
    const hid_t native = H5Tget_native_type(type, H5T_DIR_ASCEND);
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    const size_t size = native >= 0 ? H5Tget_size(native) : 0;
    if (native >= 0 && H5Tis_variable_str(type) <= 0 && H5Tget_class(type) != H5T_VLEN && n >= 0 && size > 0 &&
        double(n) * double(size) <= limits.max_bytes) {
      std::vector<unsigned char> buf(size_t(n) * size);
      read(native, buf.data());
    }
    if (native >= 0) H5Tclose(native);
  };
  const int attributes = H5Aget_num_attrs(obj);
  for (int a = 0; a < attributes; ++a) {
    const hid_t attr = H5Aopen_idx(obj, unsigned(a));
    if (attr < 0) continue;
    const hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    if (type >= 0 && space >= 0) read_all(type, space, [&](hid_t native, void* buf) { H5Aread(attr, native, buf); });
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    H5Aclose(attr);
  }
  if (H5Iget_type(obj) == H5I_DATASET) {
    const hid_t type = H5Dget_type(obj), space = H5Dget_space(obj);
    if (type >= 0 && space >= 0)
      read_all(type, space, [&](hid_t native, void* buf) { H5Dread(obj, native, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); });
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
  }
}

herr_t vet_link(hid_t loc, const char* name, const H5L_info_t* info, void* limits) {
  if (info->type != H5L_TYPE_HARD) return 0;  // soft and external links: lpt never follows them
  const hid_t obj = H5Oopen(loc, name, H5P_DEFAULT);
  if (obj < 0) return 0;  // lpt reports what it cannot open itself
  vet_object(obj, *static_cast<const VetLimits*>(limits));
  H5Oclose(obj);
  return 0;
}

// In the child: exits 0 when the walk ended, whatever HDF5 said of the file (lpt's own reading
// reports that). LPT_TEST_HDF5_VET=crash or =hang stands in for a crafted file in tests.
[[noreturn]] void vet_in_child(const std::string& path, double file_bytes) {
  if (const char* test = std::getenv("LPT_TEST_HDF5_VET")) {
    if (std::string(test) == "crash") std::raise(SIGSEGV);
    if (std::string(test) == "hang") pause();
  }
  VetLimits limits{std::min(1024 * file_bytes, double(size_t(256) << 20))};
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f >= 0) {
    const hid_t root = H5Oopen(f, "/", H5P_DEFAULT);  // the file's own attributes
    if (root >= 0) {
      vet_object(root, limits);
      H5Oclose(root);
    }
    H5Lvisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, vet_link, &limits);
    H5Fclose(f);
  }
  _exit(0);
}

std::atomic<bool> child_check{true};

void vet_untrusted(const std::string& path) {
  std::error_code ec;
  const double file_bytes = double(std::filesystem::file_size(path, ec));
  std::fflush(nullptr);
  const pid_t pid = fork();
  LPT_CHECK(pid >= 0, "file '", path, "': cannot start the process that checks it (fork failed)");
  if (pid == 0) vet_in_child(path, ec ? 0.0 : file_bytes);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kVetSeconds);
  for (pid_t r; (r = waitpid(pid, &status, WNOHANG)) != pid;) {
    if (r < 0 && errno != EINTR) fail("file '", path, "': lost the process that checks it");
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      fail("file '", path, "': the HDF5 library did not finish reading it within ", kVetSeconds,
           " s (a damaged or crafted file; see the README's Reliability section)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  LPT_CHECK(!WIFSIGNALED(status), "file '", path, "': the HDF5 library crashed reading it (signal ",
            WIFSIGNALED(status) ? WTERMSIG(status) : 0,
            "): a damaged or crafted file (see the README's Reliability section)");
}

}  // namespace

void set_child_check(bool on) { child_check = on; }

File File::open_read(const std::string& path) {
  silence_hdf5();
  LPT_CHECK(std::filesystem::exists(path), "file '", path, "' does not exist");
  LPT_CHECK(H5Fis_hdf5(path.c_str()) > 0, "file '", path, "' is not an HDF5 file (or is truncated)");
  if (child_check) vet_untrusted(path);
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  LPT_CHECK(id >= 0, "file '", path, "' could not be opened as HDF5 (corrupted or truncated?)");
  return File(id, path);
}

File File::open_write(const std::string& path) {
  silence_hdf5();
  LPT_CHECK(std::filesystem::exists(path), "file '", path, "' does not exist");
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  LPT_CHECK(id >= 0, "file '", path, "' could not be opened for writing as HDF5");
  return File(id, path);
}

File File::create(const std::string& path) {
  silence_hdf5();
  // HDF5 1.10's file format indexes a single-chunk dataset without a B-tree: checksummed
  // datasets then cost ~0.5 KB of metadata instead of ~2.5 KB (readable by HDF5 >= 1.10).
  Handle fapl{H5Pcreate(H5P_FILE_ACCESS), H5Pclose};
  H5Pset_libver_bounds(fapl.id, H5F_LIBVER_V110, H5F_LIBVER_V110);
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id);
  LPT_CHECK(id >= 0, "file '", path, "' could not be created");
  return File(id, path);
}

File::File(File&& o) noexcept : id_(std::exchange(o.id_, -1)), path_(std::move(o.path_)) {}
File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0) H5Fclose(id_);
    id_ = std::exchange(o.id_, -1);
    path_ = std::move(o.path_);
  }
  return *this;
}
File::~File() {
  if (id_ >= 0) H5Fclose(id_);
}

bool File::has(const std::string& name) const {
  if (name == "/" || name.empty()) return true;
  // Check each prefix: H5Lexists fails when an intermediate group is missing.
  size_t pos = 0;
  while (true) {
    pos = name.find('/', pos + 1);
    const std::string prefix = name.substr(0, pos);
    if (!prefix.empty() && prefix != "/" && H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (pos == std::string::npos) return true;
  }
}

bool File::is_dataset(const std::string& name) const {
  if (!has(name)) return false;
  H5O_info_t info;
  if (H5Oget_info_by_name(id_, name.c_str(), &info, H5P_DEFAULT) < 0) return false;  // HDF5 1.10 API
  return info.type == H5O_TYPE_DATASET;
}

hid_t File::open_object(const std::string& name) const {
  LPT_CHECK(has(name), "file '", path_, "': no object '", name, "'");
  const hid_t id = H5Oopen(id_, name.c_str(), H5P_DEFAULT);
  LPT_CHECK(id >= 0, "file '", path_, "': cannot open '", name, "' (corrupted file?)");
  return id;
}

std::vector<std::string> File::members(const std::string& group) const {
  Handle g{open_object(group), H5Oclose};
  std::vector<std::string> out;
  H5Literate(
      g.id, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->push_back(name);
        return 0;
      },
      &out);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> File::datasets(const std::string& group) const { return datasets_below(group, 0); }

// lpt's files nest groups a few levels deep; a hard link back to a group above (a cycle, which
// HDF5 allows) would otherwise recurse until the stack overflows.
std::vector<std::string> File::datasets_below(const std::string& group, int depth) const {
  constexpr int kMaxDepth = 32;
  LPT_CHECK(depth <= kMaxDepth, "file '", path_, "': groups nested deeper than ", kMaxDepth, " levels at '", group,
            "' (a link cycle?)");
  std::vector<std::string> out;
  const std::string base = (group == "/" || group.empty()) ? "" : group + "/";
  for (const std::string& m : members(group)) {
    if (is_dataset(base + m)) {
      out.push_back(m);
    } else {
      for (const std::string& sub : datasets_below(base + m, depth + 1)) out.push_back(m + "/" + sub);
    }
  }
  return out;
}

void File::create_group(const std::string& name) {
  if (has(name)) return;
  Handle lcpl{H5Pcreate(H5P_LINK_CREATE), H5Pclose};
  H5Pset_create_intermediate_group(lcpl.id, 1);
  Handle g{H5Gcreate2(id_, name.c_str(), lcpl.id, H5P_DEFAULT, H5P_DEFAULT), H5Gclose};
  LPT_CHECK(g.id >= 0, "file '", path_, "': cannot create group '", name, "'");
}

void File::write(const std::string& name, const Tensor& t) {
  durable::check_injected(durable::Stage::write, path_);
  const Tensor c = t.contiguous();
  std::vector<hsize_t> dims(c.shape().begin(), c.shape().end());
  Handle space{H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose};
  Handle lcpl{H5Pcreate(H5P_LINK_CREATE), H5Pclose};
  H5Pset_create_intermediate_group(lcpl.id, 1);
  const hid_t type = native_type(c.dtype());
  Handle dcpl{checksummed_layout(dims, dtype_bytes(c.dtype(), 1)), H5Pclose};
  Handle ds{H5Dcreate2(id_, name.c_str(), type, space.id, lcpl.id, dcpl.id, H5P_DEFAULT), H5Dclose};
  LPT_CHECK(ds.id >= 0, "file '", path_, "': cannot create dataset '", name, "' (exists already?)");
  LPT_CHECK(H5Dwrite(ds.id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.raw_data()) >= 0, "file '", path_,
            "': writing dataset '", name, "' failed (disk full?)");
}

DType File::dtype(const std::string& name) const {
  LPT_CHECK(is_dataset(name), "file '", path_, "': no dataset '", name, "'");
  Handle ds{H5Dopen2(id_, name.c_str(), H5P_DEFAULT), H5Dclose};
  Handle type{H5Dget_type(ds.id), H5Tclose};
  const H5T_class_t cls = H5Tget_class(type.id);
  const size_t size = H5Tget_size(type.id);
  if (cls == H5T_FLOAT && size == 4) return DType::f32;
  if (cls == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(type.id) == H5T_SGN_2;
    if (size == 1) return is_signed ? DType::s8 : DType::u8;
    if (size == 2 && is_signed) return DType::s16;
    if (size == 4 && is_signed) return DType::s32;
  }
  fail("file '", path_, "': dataset '", name, "' has an HDF5 type lpt does not read (class ", int(cls), ", ",
       size, " bytes); expected float32, int8, uint8, int16 or int32");
}

Shape File::shape(const std::string& name) const {
  LPT_CHECK(is_dataset(name), "file '", path_, "': no dataset '", name, "'");
  Handle ds{H5Dopen2(id_, name.c_str(), H5P_DEFAULT), H5Dclose};
  Handle space{H5Dget_space(ds.id), H5Sclose};
  const int nd = H5Sget_simple_extent_ndims(space.id);
  LPT_CHECK(nd >= 0, "file '", path_, "': dataset '", name, "' has an unreadable shape");
  std::vector<hsize_t> dims(static_cast<size_t>(nd));
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  int64_t count = 1;
  for (const hsize_t d : dims)
    LPT_CHECK(d <= hsize_t(INT64_MAX) && !__builtin_mul_overflow(count, int64_t(d), &count), "file '", path_,
              "': dataset '", name, "' declares a shape whose size overflows 64 bits");
  return Shape(dims.begin(), dims.end());
}

Tensor File::read(const std::string& name) const {
  const DType t = dtype(name);
  const Shape s = shape(name);
  // The declared size is checked against the file before anything is allocated: a crafted header
  // can declare terabytes, and with Linux's overcommit such an allocation succeeds only for the
  // process to be killed later. Stored data may be compressed, hence the generous ratio.
  const double bytes = double(shape_numel(s)) * double(dtype_bytes(t, 1));
  std::error_code ec;
  const double file_bytes = double(std::filesystem::file_size(path_, ec));
  const double limit = std::max(1024 * (ec ? 0.0 : file_bytes), double(64 << 20));
  LPT_CHECK(bytes <= limit, "file '", path_, "': dataset '", name, "' declares ", shape_str(s), " (", bytes,
            " bytes), more than 1024 times the file's ", file_bytes, " bytes: a damaged or crafted file");
  Tensor out = Tensor::empty(s, t);
  Handle ds{H5Dopen2(id_, name.c_str(), H5P_DEFAULT), H5Dclose};
  LPT_CHECK(H5Dread(ds.id, native_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.raw_data()) >= 0, "file '", path_,
            "': reading dataset '", name, "' failed (truncated or corrupted file?)");
  return out;
}

namespace {
void write_attr(hid_t obj, const std::string& key, hid_t type, const void* value, const std::string& where) {
  if (H5Aexists(obj, key.c_str()) > 0) H5Adelete(obj, key.c_str());
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  Handle attr{H5Acreate2(obj, key.c_str(), type, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  LPT_CHECK(attr.id >= 0 && H5Awrite(attr.id, type, value) >= 0, where, ": cannot write attribute '", key, "'");
}
}  // namespace

void File::set_attr(const std::string& obj, const std::string& key, const std::string& value) {
  Handle o{open_object(obj), H5Oclose};
  Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, std::max<size_t>(value.size(), 1));
  H5Tset_strpad(type.id, H5T_STR_NULLPAD);
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  write_attr(o.id, key, type.id, padded.data(), "file '" + path_ + "' object '" + obj + "'");
}

void File::set_attr(const std::string& obj, const std::string& key, double value) {
  Handle o{open_object(obj), H5Oclose};
  write_attr(o.id, key, H5T_NATIVE_DOUBLE, &value, "file '" + path_ + "' object '" + obj + "'");
}

void File::set_attr(const std::string& obj, const std::string& key, int64_t value) {
  Handle o{open_object(obj), H5Oclose};
  write_attr(o.id, key, H5T_NATIVE_INT64, &value, "file '" + path_ + "' object '" + obj + "'");
}

bool File::has_attr(const std::string& obj, const std::string& key) const {
  if (!has(obj)) return false;
  Handle o{open_object(obj), H5Oclose};
  return H5Aexists(o.id, key.c_str()) > 0;
}

std::vector<std::string> File::attributes(const std::string& obj) const {
  Handle o{open_object(obj), H5Oclose};
  std::vector<std::string> out;
  H5Aiterate2(
      o.id, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->push_back(name);
        return 0;
      },
      &out);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
Handle open_attr(const File& f, hid_t obj, const std::string& name, const std::string& key) {
  const hid_t a = H5Aopen(obj, key.c_str(), H5P_DEFAULT);
  LPT_CHECK(a >= 0, "file '", f.path(), "': object '", name, "' has no attribute '", key, "'");
  return Handle{a, H5Aclose};
}
}  // namespace

std::string File::attr_string(const std::string& obj, const std::string& key) const {
  Handle o{open_object(obj), H5Oclose};
  Handle a = open_attr(*this, o.id, obj, key);
  Handle type{H5Aget_type(a.id), H5Tclose};
  LPT_CHECK(H5Tget_class(type.id) == H5T_STRING, "file '", path_, "': attribute '", key, "' of '", obj,
            "' is not a string");
  LPT_CHECK(H5Tis_variable_str(type.id) <= 0, "file '", path_, "': attribute '", key, "' of '", obj,
            "' is a variable-length string; lpt writes fixed-length strings");
  std::string s(H5Tget_size(type.id), '\0');
  Handle mem{H5Tcopy(type.id), H5Tclose};
  LPT_CHECK(H5Aread(a.id, mem.id, s.data()) >= 0, "file '", path_, "': cannot read attribute '", key, "'");
  s.erase(std::find(s.begin(), s.end(), '\0'), s.end());
  return s;
}

double File::attr_double(const std::string& obj, const std::string& key) const {
  Handle o{open_object(obj), H5Oclose};
  Handle a = open_attr(*this, o.id, obj, key);
  double v = 0;
  LPT_CHECK(H5Aread(a.id, H5T_NATIVE_DOUBLE, &v) >= 0, "file '", path_, "': attribute '", key, "' of '", obj,
            "' is not a number");
  return v;
}

int64_t File::attr_int(const std::string& obj, const std::string& key) const {
  Handle o{open_object(obj), H5Oclose};
  Handle a = open_attr(*this, o.id, obj, key);
  int64_t v = 0;
  LPT_CHECK(H5Aread(a.id, H5T_NATIVE_INT64, &v) >= 0, "file '", path_, "': attribute '", key, "' of '", obj,
            "' is not an integer");
  return v;
}

void File::close() {
  durable::check_injected(durable::Stage::close, path_);
  const herr_t rc = H5Fclose(std::exchange(id_, -1));
  LPT_CHECK(rc >= 0, "writing '", path_, "' failed at close: HDF5 could not write its buffers (disk full?)");
}

void write_atomically(const std::string& path, const std::function<void(File&)>& fill) {
  const std::string tmp = path + ".tmp";
  try {
    durable::check_injected(durable::Stage::create, tmp);
    File f = File::create(tmp);
    fill(f);
    f.close();
    durable::commit(tmp, path);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace lpt::h5
