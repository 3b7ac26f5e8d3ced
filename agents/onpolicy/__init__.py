"""On-policy agents: VPG, TRPO and PPO on one shared base (base.py: config, rollout, GAE)."""
