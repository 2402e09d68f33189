#include "datasets/image_folder.h"

#include <algorithm>
#include <filesystem>

#include "datasets/image_decode.h"

namespace fs = std::filesystem;

namespace lpt::data {

namespace {
bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}
}  // namespace

ImageFolderDataset::ImageFolderDataset(const std::string& root, const ImageFolderOptions& options)
    : root_(root), options_(options), resize_(options.resize), crop_(options.crop) {
  LPT_CHECK(options.crop > 0 && options.resize >= options.crop, "image folder '", root, "': resize ", options.resize,
            " must be >= crop ", options.crop, " > 0");
  LPT_CHECK(fs::is_directory(root), "image folder '", root, "' does not exist or is not a directory");
  name_ = options.name.empty() ? fs::path(root).lexically_normal().filename().string() : options.name;
  if (name_.empty()) name_ = fs::path(root).lexically_normal().parent_path().filename().string();
  for (const fs::directory_entry& e : fs::directory_iterator(root, fs::directory_options::follow_directory_symlink)) {
    if (e.is_directory()) classes_.push_back(e.path().filename().string());
  }
  std::sort(classes_.begin(), classes_.end());
  LPT_CHECK(!classes_.empty(), "image folder '", root, "' has no class subfolders");
  for (size_t c = 0; c < classes_.size(); ++c) {
    std::vector<std::string> found;
    const fs::path dir = fs::path(root) / classes_[c];
    for (const fs::directory_entry& e :
         fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink)) {
      if (e.is_regular_file() && is_image_file(e.path())) found.push_back(e.path().string());
    }
    LPT_CHECK(!found.empty(), "image folder '", root, "': class folder '", dir.string(),
              "' has no .jpg, .jpeg or .png files");
    std::sort(found.begin(), found.end());
    for (std::string& f : found) {
      files_.push_back(std::move(f));
      labels_.push_back(int32_t(c));
    }
  }
}

void ImageFolderDataset::get(int64_t index, float* chw_out, int32_t* label) const {
  check_index(*this, index);
  const std::string& path = files_[size_t(index)];
  const DecodedImage img = decode_image(path, options_.fast_jpeg_scaling ? options_.resize : 0);
  const SampleShape decoded{3, img.h, img.w};
  std::vector<float> chw(size_t(decoded.numel()));
  const int64_t plane = img.h * img.w;
  for (int64_t p = 0; p < plane; ++p) {
    for (int64_t c = 0; c < 3; ++c) chw[size_t(c * plane + p)] = kByteToUnit[img.rgb[size_t(3 * p + c)]];
  }
  const SampleShape resized = resize_.output_shape(decoded);
  std::vector<float> resized_chw(size_t(resized.numel()));
  const RandomStream unused(0, 0);  // Resize and CenterCrop draw nothing
  resize_.apply(chw.data(), decoded, resized_chw.data(), unused);
  crop_.apply(resized_chw.data(), resized, chw_out, unused);
  *label = labels_[size_t(index)];
}

}  // namespace lpt::data
