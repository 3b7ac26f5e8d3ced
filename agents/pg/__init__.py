"""The policy-gradient family of Spinning Up: VPG, TRPO, PPO, DDPG, TD3, SAC."""
