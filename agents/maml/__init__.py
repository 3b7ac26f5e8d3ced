"""MAML (second- and first-order), Meta-SGD and ANIL on torch.func, for supervised and meta-RL tasks.

- core.py: MetaLearner (inner SGD via torch.func.grad, vmap over tasks, clone()/adapt(loss));
- sine.py: the sine-regression family and its trainer;
- rl.py: meta-RL (linear baseline, policy-gradient inner step, TRPO / ProMP outer update), sampling
  from envs/meta (numpy families, or the task-batched torch env with --env-backend mujoco | warp);
- run.py: the shared meta-training loop (logging, atomic checkpoints, resume);
- cli.py: `rlmeta meta-train FAMILY`;  l2l.py: optional learn2learn task-dataset adapter
  (tests/test_maml_l2l.py checks these meta-gradients against learn2learn's own).
"""
