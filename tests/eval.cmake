# Held-out evaluation runs on the rollout engine: rollout::Decoder's KV cache on every model family
# (the invariants model_test held while the model had a cache of its own), and
# train::evaluate_greedy against a naive greedy loop on a tiny model with a real tokenizer.
rleif_add_test(NAME rollout_decoder_test SOURCES integration/rollout_decoder_test.cc model_test_util.cc
               LIBS rleif_rollout FIXTURES model)
rleif_add_test(NAME train_evaluate_test SOURCES integration/train_evaluate_test.cc LIBS rleif_train
               FIXTURES rollout_models LABELS integration)
