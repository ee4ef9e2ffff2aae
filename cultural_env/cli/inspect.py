"""`cultural-kd inspect`: step through one episode block by block and see what the teacher did.

On a terminal the episode is shown in a full-screen rich view that advances one block per key
press. Otherwise, or with ``--no-interactive``, every block is printed as scrollback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import sys
import termios
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.layout import Layout
from rich.live import Live
from rich.text import Text

from agents.base import Transition
from cultural_env.errors import ConfigError
from cultural_env.rendering import (
    DEFAULT_TOP_K,
    BlockView,
    TokenCandidate,
    block_panel,
    episode_summary,
    latest_block_view,
    response_panel,
    sample_panels,
    top_candidates,
)

logger = logging.getLogger(__name__)

SAMPLE_PANEL_HEIGHT = 8
"""Lines of the query and knowledge panels in the live view."""
RESPONSE_TAIL_LINES = 5
"""Lines of the response (its end) shown in the live view."""
STEP_KEYS = ("\n", "\r", " ")
"""Keys that advance the live view by one block."""


def register(subparsers: Any) -> None:
    """Add the ``inspect`` subcommand."""
    parser = subparsers.add_parser(
        "inspect",
        help="step through one episode and see which drafted tokens the teacher accepted",
        description="Roll out one episode with the SKD student drafting and the teacher verifying, block by block. "
        "On a terminal, Enter or Space shows the next block, 'a' runs to the end and 'q' quits.",
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override a config field, e.g. env.acceptance.top_k=3")
    parser.add_argument("--config", help="YAML run config (a path, or the name of one in configs/: tiny, qwen3-32b-to-4b)")
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="student to inspect: a folder saved with save_pretrained, or a run folder of `cultural-kd train` "
        "(its student/ is used, and its config.yaml when --config is not given)",
    )
    parser.add_argument("--sample", metavar="ID", help="dataset item to roll out, e.g. tradition_001 (default: drawn with --seed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the item choice and of the sampling (default: 0)")
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help=f"candidates listed at a rejected position (default: {DEFAULT_TOP_K})")
    parser.add_argument(
        "--no-interactive",
        action="store_true",
        help="print every block as scrollback instead of the live view; the default when stdin or stdout is not a terminal",
    )
    parser.set_defaults(handler=run)


# ------------------------------------------------------------------------------ configuration


def resolve_config(args: argparse.Namespace):
    """Build the run config from --config, --model and KEY=VALUE overrides."""
    from agents.run_config import load_run_config, packaged_config_path

    config_path: str | Path | None = args.config
    if config_path is not None and not Path(config_path).exists() and not str(config_path).endswith((".yaml", ".yml")):
        config_path = packaged_config_path(str(config_path))
    overrides = list(args.overrides)
    if args.model is not None:
        student_path = Path(args.model).expanduser()
        if not (student_path / "config.json").is_file() and (student_path / "student" / "config.json").is_file():
            if config_path is None and (student_path / "config.yaml").is_file():
                config_path = student_path / "config.yaml"
                logger.info("using the run's config %s", config_path)
            student_path = student_path / "student"
        overrides.append(f"agent.student={student_path}")
    return load_run_config(config_path, overrides)


# ------------------------------------------------------------------------------ the episode


class InspectSession:
    """One episode of the SKD student in the environment, advanced one block at a time.

    At each rejection the student's own top-k at the rejected position is computed with one extra
    student forward over the prompt and the accepted response, at the agent's loss temperature,
    so that it is comparable with the teacher's distribution.
    """

    def __init__(self, env: Any, agent: Any, top_k: int = DEFAULT_TOP_K) -> None:
        self.env = env
        self.agent = agent
        self.top_k = top_k
        self.views: list[BlockView] = []
        self.observation: dict[str, np.ndarray] | None = None
        self.done = False

    def start(self, sample_id: str | None, seed: int) -> None:
        """Reset the environment and the agent for a new episode."""
        options = {"sample_id": sample_id} if sample_id is not None else None
        self.observation, info = self.env.reset(seed=seed, options=options)
        if hasattr(self.agent, "seed"):
            self.agent.seed(seed)
        self.agent.begin_episode(self.observation, info)
        self.views = []
        self.done = False

    def step(self) -> BlockView:
        """Draft one block, let the teacher verify it, and return its view."""
        if self.observation is None or self.done:
            raise RuntimeError("step() needs a running episode; call start() first")
        before = self.observation["query"].tolist() + self.observation["response"].tolist()
        action = np.asarray(self.agent.act(self.observation), dtype=np.int64)
        self.observation, reward, terminated, truncated, info = self.env.step(action)
        self.agent.observe(Transition(action, self.observation, float(reward), bool(terminated), bool(truncated), info))
        self.done = bool(terminated or truncated)

        student_top = None
        num_accepted = int(info["num_accepted"])
        if info["correction"] >= 0:
            draft = self.env.history[-1]["draft"]
            student_top = self.student_top(before + [int(token) for token in draft[:num_accepted]])
        view = latest_block_view(self.env, self.top_k, student_top)
        self.views.append(view)
        return view

    @torch.no_grad()
    def student_top(self, token_ids: list[int]) -> tuple[TokenCandidate, ...]:
        """Compute the student's top-k for the position after ``token_ids``."""
        input_ids = torch.as_tensor(token_ids, device=self.agent.device)[None]  # (1, T)
        logits = self.agent.model(input_ids=input_ids, logits_to_keep=1).logits[0, -1, : self.agent.vocab_size]  # (V,)
        log_probs = torch.log_softmax(logits.float() / self.agent.loss_temperature, dim=-1)  # (V,)
        return top_candidates(self.env.tokenizer, log_probs, self.top_k)

    @property
    def next_gamma(self) -> int:
        """Draft length of the next block, as adapted by the agent."""
        return int(getattr(self.agent, "gamma", 0))


# ------------------------------------------------------------------------------ output


def run_scrollback(session: InspectSession, console: Console) -> None:
    """Print the sample panels, every block as it is verified, then the response."""
    console.print(sample_panels(session.env.sample, teacher_knowledge=session.env.teacher_knowledge(session.env.sample)))
    while not session.done:
        console.print(block_panel(session.step()))
    console.print(response_panel(session.env.tokenizer, session.env.history, title="response"))
    console.print(episode_summary(session.views, session.done))


def live_screen(session: InspectSession, console: Console, running_to_end: bool) -> Layout:
    """Build the full-screen view: sample panels, the latest block, the end of the response, and the key help."""
    layout = Layout()
    layout.split_column(
        Layout(sample_panels(session.env.sample, height=SAMPLE_PANEL_HEIGHT, teacher_knowledge=session.env.teacher_knowledge(session.env.sample)), name="sample", size=SAMPLE_PANEL_HEIGHT),
        Layout(name="block", ratio=1),
        Layout(name="response", size=RESPONSE_TAIL_LINES + 2),
        Layout(name="footer", size=2),
    )
    if session.views:
        layout["block"].update(block_panel(session.views[-1]))
    else:
        layout["block"].update(Text("no block yet: press Enter or Space to draft the first one", style="dim"))
    response = response_panel(session.env.tokenizer, session.env.history)
    lines = response.renderable.wrap(console, max(10, console.width - 4))
    response.renderable = Text("\n").join(lines[-RESPONSE_TAIL_LINES:])
    layout["response"].update(response)
    layout["footer"].update(footer_text(session, running_to_end))
    return layout


def footer_text(session: InspectSession, running_to_end: bool) -> Text:
    """Build the two lines under the live view: the episode status, then the keys."""
    footer = episode_summary(session.views, session.done)
    if not session.done:
        footer.append(f" | next γ {session.next_gamma}")
    if session.done:
        keys = "q or Enter: quit"
    elif running_to_end:
        keys = "running to the end | q: quit"
    else:
        keys = "Enter/Space: next block | a: run to the end | q: quit"
    footer.append("\n")
    footer.append(keys, style="reverse")
    return footer


@contextlib.contextmanager
def single_keys(stream: Any) -> Iterator[Any]:
    """Put the terminal of ``stream`` in cbreak mode (keys arrive one by one, no echo) and restore it on exit.

    Cbreak rather than raw mode keeps Ctrl-C working and keeps the terminal's output processing,
    which rich's screen updates rely on. Yields a function ``read(timeout)`` that returns one key,
    or None when no key came within ``timeout`` seconds (None waits for ever).
    """
    descriptor = stream.fileno()
    saved = termios.tcgetattr(descriptor)

    def read(timeout: float | None = None) -> str | None:
        ready, _, _ = select.select([descriptor], [], [], timeout)
        if not ready:
            return None
        return os.read(descriptor, 32).decode("utf-8", errors="replace")[:1]

    try:
        tty.setcbreak(descriptor)
        yield read
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)


def run_live(session: InspectSession, console: Console) -> None:
    """Step through the episode on key presses in a full-screen view, then print the response as scrollback."""
    running_to_end = False
    with single_keys(sys.stdin) as read_key, Live(console=console, screen=True, auto_refresh=False) as live:
        while True:
            live.update(live_screen(session, console, running_to_end), refresh=True)
            if running_to_end and not session.done:
                if read_key(0) == "q":
                    break
                session.step()
                continue
            key = read_key()
            if key == "q" or (session.done and key in STEP_KEYS):
                break
            if session.done:
                continue
            if key == "a":
                running_to_end = True
            elif key in STEP_KEYS:
                session.step()
    console.print(response_panel(session.env.tokenizer, session.env.history, title=f"response · {session.env.sample.id}"))
    console.print(episode_summary(session.views, session.done))


def run(args: argparse.Namespace) -> int:
    """Handle ``cultural-kd inspect``."""
    from agents.skd import SKDAgent
    from cultural_env.env import CulturalTokenEnv

    if args.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {args.top_k}")
    config = resolve_config(args)
    env = CulturalTokenEnv(config.env)
    if args.sample is not None and args.sample not in {sample.id for sample in env.samples}:
        raise ConfigError(
            f"sample {args.sample!r} is not in the {config.env.data.split} split of this dataset "
            f"({len(env.samples)} items, e.g. {env.samples[0].id!r}); add env.data.split=all to search every item"
        )
    agent = SKDAgent(config.agent, env, config.optim)
    session = InspectSession(env, agent, args.top_k)
    session.start(args.sample, args.seed)

    console = Console(highlight=False, emoji=False)
    interactive = not args.no_interactive and sys.stdin.isatty() and sys.stdout.isatty()
    try:
        if interactive:
            run_live(session, console)
        else:
            run_scrollback(session, console)
    finally:
        env.close()
    return 0
