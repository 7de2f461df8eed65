// Translation unit that owns the precompiled <torch/torch.h> reused by every torch target.
#include <torch/torch.h>
