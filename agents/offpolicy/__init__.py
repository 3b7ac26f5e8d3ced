"""Off-policy agents: DDPG, TD3 and SAC on one shared base (base.py: config, replay loop, target
networks, executors) and the stacked-seeds update (stacked.py)."""
