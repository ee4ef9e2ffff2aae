"""Text and rich renderings of an episode: which drafted tokens the teacher accepted or replaced."""

from __future__ import annotations

from typing import Any

VISIBLE_WHITESPACE = str.maketrans({" ": "·", "\n": "↵", "\t": "→", "\r": "␍"})


def visible_token(tokenizer: Any, token_id: int) -> str:
    """Decode one token with spaces, newlines and tabs shown as visible marks."""
    text = tokenizer.decode([int(token_id)], skip_special_tokens=False)
    return text.translate(VISIBLE_WHITESPACE) if text else f"<{int(token_id)}>"


def render_episode_text(env: Any) -> str:
    """Plain-text rendering of the episode so far: one line per block.

    Accepted tokens are written ``[token]``, the first rejected one ``{token -> correction}``, and
    drafted tokens after it are dropped from the line since the teacher never judged them in context.
    """
    tokenizer = env.tokenizer
    lines = [f"sample {env.sample.id if env.sample else '-'}: {env.sample.query if env.sample else ''}"]
    drafted = accepted = 0
    for index, step in enumerate(env.history, start=1):
        parts = []
        draft = step["draft"]
        for position, token in enumerate(draft):
            if position < step["num_accepted"]:
                parts.append(f"[{visible_token(tokenizer, token)}]")
            elif position == step["num_accepted"]:
                correction = visible_token(tokenizer, step["correction"])
                parts.append(f"{{{visible_token(tokenizer, token)} -> {correction}}}")
                break
        drafted += len(draft)
        accepted += step["num_accepted"]
        lines.append(f"block {index:>3} | gamma {len(draft):>2} | accepted {step['num_accepted']}/{len(draft)} | " + " ".join(parts))
    rate = accepted / drafted if drafted else 0.0
    lines.append(f"response length {len(env.response)} | acceptance rate {rate:.2f} | done {env.done}")
    return "\n".join(lines) + "\n"


def print_episode(env: Any) -> None:
    """Print the latest block to the console with rich colours (render_mode "human")."""
    from rich.console import Console
    from rich.text import Text

    if not env.history:
        return
    step = env.history[-1]
    line = Text(f"block {len(env.history):>3}  ")
    for position, token in enumerate(step["draft"]):
        if position < step["num_accepted"]:
            line.append(visible_token(env.tokenizer, token), style="green")
        elif position == step["num_accepted"]:
            line.append(visible_token(env.tokenizer, token), style="red strike")
            line.append(visible_token(env.tokenizer, step["correction"]), style="bold yellow")
            break
        line.append(" ")
    Console().print(line)
