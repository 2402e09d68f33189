#include "layers/simple.h"

namespace lpt {

Variable Dropout::forward(const Variable& x) {
  const RandomStream stream = step_stream(seed_, step_, stable_hash(name().c_str()));
  return ops::dropout(x, p_, training(), stream);
}

}  // namespace lpt
