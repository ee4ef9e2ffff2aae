"""Roll out one episode of the embedded default and print each block as the teacher judged it.

Run from the repository root:  python examples/inspect_rollout.py [SAMPLE_ID]
"""

import logging
import sys

import gymnasium as gym

import cultural_env  # noqa: F401  (registers CulturalKD-v0)
from agents import SKDAgent, SKDConfig, run_episode


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    env = gym.make("CulturalKD-v0", render_mode="ansi")
    agent = SKDAgent(SKDConfig(), env.unwrapped)
    agent.seed(0)
    options = {"sample_id": sys.argv[1]} if len(sys.argv) > 1 else None
    episode = run_episode(env, agent, options=options, seed=0)
    sys.stdout.write(env.render())
    sys.stdout.write(f"reward {episode.total_reward:.0f} over {len(episode.transitions)} blocks\n")
    env.close()


if __name__ == "__main__":
    main()
