#include "datasets/hdf5_dataset.h"

#include <algorithm>
#include <filesystem>

#include "core/hdf5.h"

namespace lpt::data {

namespace {

ImageLayout parse_layout(const std::string& s, const std::string& where) {
  if (s == "NCHW" || s == "nchw") return ImageLayout::nchw;
  if (s == "NHWC" || s == "nhwc") return ImageLayout::nhwc;
  fail(where, ": layout attribute '", s, "' is neither NCHW nor NHWC");
}

ImageLayout detect_layout(const h5::File& f, const std::string& key, const Shape& shape) {
  for (const std::string& obj : {key, std::string("/")}) {
    if (f.has_attr(obj, "layout")) return parse_layout(f.attr_string(obj, "layout"), "HDF5 file '" + f.path() + "'");
  }
  auto is_channels = [](int64_t d) { return d == 1 || d == 3; };
  if (is_channels(shape[1]) && !is_channels(shape[3])) return ImageLayout::nchw;
  if (is_channels(shape[3]) && !is_channels(shape[1])) return ImageLayout::nhwc;
  fail("HDF5 file '", f.path(), "': layout of '", key, "' ", shape_str(shape),
       " is ambiguous; set a `layout` attribute (NCHW or NHWC) or pass the layout");
}

// [N, H, W, C] -> [N, C, H, W] (same dtype, contiguous).
Tensor nhwc_to_nchw(const Tensor& t) {
  const int64_t n = t.size(0), h = t.size(1), w = t.size(2), c = t.size(3);
  Tensor out = Tensor::empty({n, c, h, w}, t.dtype());
  const size_t elem = dtype_bytes(t.dtype(), 1);
  const auto* src = static_cast<const uint8_t*>(t.raw_data());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t ch = 0; ch < c; ++ch)
          std::copy_n(src + size_t((((i * h + y) * w + x) * c + ch)) * elem, elem,
                      dst + size_t((((i * c + ch) * h + y) * w + x)) * elem);
  return out;
}

// Integer labels of any stored width, converted by HDF5 on read. core/hdf5.h reads only the
// dtypes lpt tensors hold (h5py writes int64 labels by default), so this one read uses the C API.
std::vector<int64_t> read_integer_labels(const std::string& path, const std::string& key) {
  struct Closer {
    hid_t id;
    herr_t (*close)(hid_t);
    ~Closer() {
      if (id >= 0) close(id);
    }
  };
  const Closer file{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
  LPT_CHECK(file.id >= 0, "HDF5 file '", path, "' could not be opened");
  const Closer ds{H5Dopen2(file.id, key.c_str(), H5P_DEFAULT), H5Dclose};
  LPT_CHECK(ds.id >= 0, "HDF5 file '", path, "': no dataset '", key, "'");
  const Closer type{H5Dget_type(ds.id), H5Tclose};
  LPT_CHECK(H5Tget_class(type.id) == H5T_INTEGER, "HDF5 file '", path, "': dataset '", key,
            "' must hold integers");
  const Closer space{H5Dget_space(ds.id), H5Sclose};
  const hssize_t n = H5Sget_simple_extent_npoints(space.id);
  std::vector<int64_t> out(size_t(std::max<hssize_t>(n, 0)));
  LPT_CHECK(H5Dread(ds.id, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0, "HDF5 file '", path,
            "': reading dataset '", key, "' failed (truncated or corrupted file?)");
  return out;
}

}  // namespace

std::shared_ptr<InMemoryDataset> load_hdf5_dataset(const std::string& path, const Hdf5DatasetOptions& opt) {
  const h5::File f = h5::File::open_read(path);
  const std::string& ik = opt.images_key;
  const std::string& lk = opt.labels_key;
  LPT_CHECK(f.is_dataset(ik), "HDF5 file '", path, "': no dataset '", ik, "'");
  LPT_CHECK(f.is_dataset(lk), "HDF5 file '", path, "': no dataset '", lk, "'");
  const DType dtype = f.dtype(ik);
  LPT_CHECK(dtype == DType::u8 || dtype == DType::f32, "HDF5 file '", path, "': dataset '", ik, "' is ",
            dtype_name(dtype), ", expected uint8 or float32");
  const Shape ishape = f.shape(ik);
  const Shape lshape = f.shape(lk);
  LPT_CHECK(ishape.size() == 3 || ishape.size() == 4, "HDF5 file '", path, "': dataset '", ik, "' has shape ",
            shape_str(ishape), ", expected [N, C, H, W], [N, H, W, C] or [N, H, W]");
  LPT_CHECK(lshape.size() == 1, "HDF5 file '", path, "': dataset '", lk, "' has shape ", shape_str(lshape),
            ", expected [N]");
  LPT_CHECK(ishape[0] == lshape[0], "HDF5 file '", path, "': ", ishape[0], " images in '", ik, "' but ", lshape[0],
            " labels in '", lk, "'");

  Tensor images = f.read(ik);
  if (ishape.size() == 3) {
    images = images.view({ishape[0], 1, ishape[1], ishape[2]});
  } else {
    const ImageLayout layout = opt.layout != ImageLayout::detect ? opt.layout : detect_layout(f, ik, ishape);
    if (layout == ImageLayout::nhwc) images = nhwc_to_nchw(images);
  }

  const std::vector<int64_t> raw = read_integer_labels(path, lk);
  int num_classes = opt.num_classes;
  for (const std::string& obj : {lk, std::string("/")}) {
    if (num_classes == 0 && f.has_attr(obj, "num_classes")) num_classes = int(f.attr_int(obj, "num_classes"));
  }
  if (num_classes == 0 && !raw.empty()) num_classes = int(*std::max_element(raw.begin(), raw.end()) + 1);
  std::vector<int32_t> labels(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    LPT_CHECK(raw[i] >= 0 && raw[i] < num_classes, "HDF5 file '", path, "': label ", raw[i], " of sample ", i,
              " in '", lk, "' out of range [0, ", num_classes, ")");
    labels[i] = int32_t(raw[i]);
  }
  const std::string name = opt.name.empty() ? std::filesystem::path(path).stem().string() : opt.name;
  return std::make_shared<InMemoryDataset>(name, path, std::move(images), std::move(labels), std::max(num_classes, 1));
}

}  // namespace lpt::data
