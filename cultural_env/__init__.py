"""cultural-kd: knowledge distillation with privileged information as a Gymnasium environment.

Importing this package registers ``CulturalKD-v0``; ``gymnasium.make("CulturalKD-v0")`` with no
arguments builds the embedded default (tiny models made by this project, offline, on the CPU).
"""

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

if "CulturalKD-v0" not in registry:
    register(
        id="CulturalKD-v0",
        entry_point="cultural_env.env:CulturalTokenEnv",
        vector_entry_point="cultural_env.vector:CulturalTokenVectorEnv",
    )


def __getattr__(name: str):
    # Lazy, so that `import cultural_env` stays cheap and registration never loads a model.
    if name == "CulturalTokenEnv":
        from cultural_env.env import CulturalTokenEnv

        return CulturalTokenEnv
    if name == "EnvConfig":
        from cultural_env.env_config import EnvConfig

        return EnvConfig
    raise AttributeError(f"module 'cultural_env' has no attribute {name!r}")


__all__ = ["CulturalTokenEnv", "EnvConfig", "__version__"]
