# ppo: the arithmetic of PPO / GRPO / RLOO (KL estimators, GAE, group advantages, losses, KL
# controller) against hand-computed literals and an explicit-loop GAE reference.
rleif_add_test(NAME ppo_algo_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/ppo_algo_test.cc
  LIBS rleif_ppo
  LABELS unit)
# ppo: the trainer's forward passes (temperature, batch/padding invariance, micro-batch gradients),
# the engine following optimizer steps, reward placement and GRPO's cancellation of r_I.
rleif_add_test(NAME ppo_forward_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/ppo_forward_test.cc
  LIBS rleif_ppo rleif_rm_test_util
  LABELS unit)
