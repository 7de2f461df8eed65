# Rollout engine and server: sampler (unit), text streaming (unit), engine on tiny random models
# (integration), greedy parity with transformers' generate (golden), CLI and OpenAI-client tests.
rleif_add_fixture(NAME rollout_models SCRIPT scripts/fixtures/rollout_models.py)
rleif_add_test(NAME sampler_filter_test SOURCES unit/sampler_filter_test.cc LIBS rleif_rollout)
rleif_add_test(NAME rollout_text_stream_test SOURCES unit/rollout_text_stream_test.cc LIBS rleif_rollout)
rleif_add_test(NAME rollout_cpu_decode_test SOURCES unit/rollout_cpu_decode_test.cc LIBS rleif_rollout LABELS unit)
rleif_add_test(NAME engine_generate_test SOURCES integration/engine_generate_test.cc LIBS rleif_rollout
               FIXTURES rollout_models GPU_TESTS *Cuda*)
rleif_add_test(NAME rollout_hf_greedy_test SOURCES golden/rollout_hf_greedy_test.cc LIBS rleif_rollout
               FIXTURES rollout_models)
rleif_add_test(NAME rollout_generate_cli_test CLI SOURCES integration/rollout_generate_cli_test.cc
               FIXTURES rollout_models)
rleif_add_test(NAME serve_openai_test CLI SOURCES integration/serve_openai_test.cc FIXTURES rollout_models)
# serve: request parsing on hostile numbers (unit); the engine thread's capacity and failure paths on
# a tiny random model (unit).
rleif_add_test(NAME serve_api_test SOURCES unit/serve_api_test.cc LIBS rleif_serve LABELS unit)
rleif_add_test(NAME serve_worker_test SOURCES unit/serve_worker_test.cc LIBS rleif_serve LABELS unit)
rleif_add_fixture(NAME rollout_chat_templates SCRIPT scripts/fixtures/rollout_chat_templates.py)
rleif_add_test(NAME serve_chat_template_test SOURCES golden/serve_chat_template_test.cc LIBS rleif_serve
               FIXTURES rollout_chat_templates)
