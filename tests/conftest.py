import os
import sys
import warnings

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
sys.path.insert(0, os.path.dirname(__file__))  # tests/wandb_reader.py
warnings.filterwarnings("ignore", message=".*settotalmass.*")

# The slow families of the suite, marked here by file, by words in the test id (parameters included),
# by test name and by the fixtures a test uses (so no test file needs a decorator). `bash scripts/test.sh` runs everything; `pytest -m "not slow"`
# runs the fast core (about a minute on 2 cores); `pytest -m search`, `-m compile`, ... one family.
# The markers are registered in setup.cfg. A test that takes more than a second or two on 2 cores
# belongs in a family (`pytest --durations=30 -m "not slow"` lists the candidates).
FAMILIES: dict[str, dict[str, tuple[str, ...]]] = {
    # torch.compile / CUDA-graph executors: seconds of compilation per graph on a cold cache
    "compile": {"files": ("test_ppo_compile.py",), "words": ("compile",), "tests": ()},
    # mujoco-warp on Warp's CPU device: kernel compilation (20-30 s on a cold cache), slow stepping
    "warp": {"files": ("test_warp_backend.py", "test_maml_bench.py"), "words": ("warp",), "tests": ()},
    # the GPU check scripts of benchmarks/ in their tiny CPU configurations
    "gpu_script": {
        "files": (
            "test_gpu_ppo.py",
            "test_gpu_maml.py",
            "test_gpu_offpolicy.py",
            "test_gpu_alphazero.py",
            "test_gpu_atari.py",
            "test_gpu_first_runs.py",
        ),
        "words": (),
        "tests": (),
    },
    # a local Ray cluster (seconds to start)
    "ray": {"files": (), "words": ("ray",), "tests": ()},
    # searches and games checked against exact solvers or OpenSpiel over many positions
    "search": {
        "files": (),
        "words": (),
        "tests": (
            "test_solver_proof_depths_match_exact_minimax_with_depth",
            "test_solver_proofs_agree_with_exact_tictactoe_values",
            "test_fast_search_builds_the_reference_tree",
            "test_fast_search_builds_the_reference_tree_with_passes",
            "test_subtree_reuse_keeps_statistics",
            "test_search_hot_paths_play_only_legal_actions",
            "test_solver_finds_a_win_in_two_the_prior_hides",
            "test_perfect_value_wins_and_blocks",
            "test_connect4_optimal_moves_on_threats",
            "test_lockstep_random_games_against_openspiel",
            "test_lockstep_random_games",
            "test_bitboard_playouts_match_board_playouts",
        ),
    },
    # short training runs that check learning or a whole pipeline (ttt_run: an AlphaZero run shared
    # by the tests of test_alphazero.py that use it)
    "training": {
        "files": (),
        "words": ("learns", "trains", "resume"),
        "fixtures": ("ttt_run",),
        "tests": (
            "test_tictactoe_training_reaches_perfect_play",
            "test_alphago_pipeline_on_tictactoe",
            "test_connect4_checkpoint_eval_and_arena",
            "test_short_sine_run_adapts",
            "test_outer_update_improves_the_surrogate_within_bounds",
            "test_fisher_vector_product_through_adaptation_equals_hessian",
            "test_nonfinite_sac_maml_and_alphazero_stop_too",
            "test_no_mujoco_or_wandb_noise",
            "test_loop_schedule_update_to_data_ratio_and_eval_steps",
            "test_wandb_offline_run_holds_metrics_and_config",
            "test_td3_delayed_actor_and_targets",
        ),
    },
    # end to end: CLI subprocesses, fresh venvs, suites, sweeps, videos, the tutorials, the docs build
    "e2e": {
        "files": (
            "test_layers.py",
            "test_readme.py",
            "test_examples.py",
            "test_docs.py",
            "test_bench.py",
            "test_sweep.py",
            "test_alphazero_resume.py",
            "test_multiseed.py",
            "test_video.py",
            "test_maml_l2l.py",
            "test_offpolicy_parallel.py",
            "test_maml_rl_batched.py",
            "test_meta_batched.py",
            "test_atari.py",
        ),
        "words": (),
        "tests": (),
    },
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        file = os.path.basename(str(item.fspath))
        name = getattr(item, "originalname", item.name)  # without the parameters
        fixtures = set(getattr(item, "fixturenames", ()))
        for family, match in FAMILIES.items():
            if (
                file in match["files"]
                or name in match["tests"]
                or fixtures & set(match.get("fixtures", ()))
                or any(w in item.name.lower() for w in match["words"])
            ):
                item.add_marker(getattr(pytest.mark, family))
                item.add_marker(pytest.mark.slow)
