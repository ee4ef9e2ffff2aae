"""Renderings of an episode: which drafted tokens the teacher accepted, and what it offered instead.

The same rich renderables serve three callers: ``CulturalTokenEnv.render`` ("ansi" exports them
as text with ANSI colours, "human" prints them), and ``cultural-kd inspect`` (a live view, or
scrollback with ``--no-interactive``). Token text always enters rich as :class:`rich.text.Text`,
never as markup, so a token such as ``[bold]`` is shown literally. Whitespace is drawn with
visible marks, and a byte-level BPE token that holds only part of a UTF-8 character is shown as
its bytes (``<0xEA>``) instead of a replacement character.
"""

from __future__ import annotations

import codecs
import io
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

VISIBLE_WHITESPACE = str.maketrans({" ": "·", "\n": "↵", "\t": "→", "\r": "␍"})
"""Marks that stand for whitespace inside a token, so that a token of spaces is not blank."""

DEFAULT_TOP_K = 5
"""Number of candidates listed at a rejected position."""

ANSI_WIDTH = 100
"""Width in terminal columns of the text that ``render_mode="ansi"`` returns."""

STYLES = {
    "accepted": "green",
    "rejected": "bold red strike",
    "dropped": "dim",
    "correction": "bold yellow",
}
"""Rich style of a drafted token by its verdict, and of the teacher's correction."""

VERDICT_MARKS = {"accepted": "✓ accepted", "rejected": "✗ rejected →", "dropped": "· dropped"}
"""Verdict column text, readable without colours."""


# ------------------------------------------------------------------------------ token text


def _byte_level_decoder() -> dict[str, int]:
    """Map each character of a byte-level BPE token string back to the byte it encodes.

    Byte-level BPE (GPT-2, Qwen) writes printable Latin-1 bytes as themselves and moves the other
    bytes, in order, to the characters from U+0100 on.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {chr(byte): byte for byte in printable}
    shifted = 0
    for byte in range(256):
        if byte not in printable:
            mapping[chr(256 + shifted)] = byte
            shifted += 1
    return mapping


_BYTE_LEVEL_DECODER = _byte_level_decoder()


def visible_text(text: str) -> str:
    """Replace whitespace with visible marks and other control or format characters with ``<U+XXXX>``."""
    marked = text.translate(VISIBLE_WHITESPACE)
    if all(unicodedata.category(char) not in ("Cc", "Cf") for char in marked):
        return marked
    return "".join(f"<U+{ord(char):04X}>" if unicodedata.category(char) in ("Cc", "Cf") else char for char in marked)


def token_bytes(tokenizer: Any, token_id: int) -> bytes | None:
    """Return the raw bytes of a byte-level BPE token, or None for other tokenizers."""
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    if not isinstance(piece, str) or not piece or any(char not in _BYTE_LEVEL_DECODER for char in piece):
        return None
    return bytes(_BYTE_LEVEL_DECODER[char] for char in piece)


def visible_token(tokenizer: Any, token_id: int) -> str:
    """Decode one token for display: visible whitespace, and ``<0xNN>`` for bytes of a partial UTF-8 character."""
    text = tokenizer.decode([int(token_id)], skip_special_tokens=False)
    if text and "\ufffd" not in text:
        return visible_text(text)
    raw = token_bytes(tokenizer, token_id)
    if raw is None:
        piece = tokenizer.convert_ids_to_tokens(int(token_id))
        return visible_text(piece) if isinstance(piece, str) and piece else f"<id {int(token_id)}>"
    return visible_text(_escaped_bytes(raw.decode("utf-8", errors="surrogateescape")))


def _escaped_bytes(text: str) -> str:
    """Write the lone bytes that the ``surrogateescape`` error handler left (U+DC80..U+DCFF) as ``<0xNN>``."""
    return "".join(f"<0x{ord(char) - 0xDC00:02X}>" if 0xDC80 <= ord(char) <= 0xDCFF else char for char in text)


def response_runs(tokenizer: Any, runs: Sequence[tuple[Sequence[int], str]]) -> Text:
    """Decode consecutive runs of response tokens as prose, each run in its own style.

    Newlines are kept and marked with ``↵``, tabs are shown as ``→``. With a byte-level BPE
    tokenizer the bytes are decoded across run boundaries, so a Hangul syllable split between an
    accepted draft and the teacher's correction appears whole, in the style of the run that
    completes it. Bytes that form no valid character, or one still incomplete at the end, are
    shown as ``<0xNN>``.
    """
    text = Text()
    all_ids = [int(token) for ids, _ in runs for token in ids]
    raw_pieces = [token_bytes(tokenizer, token) for token in all_ids]
    if any(piece is None for piece in raw_pieces):
        for ids, style in runs:
            decoded = tokenizer.decode([int(token) for token in ids], skip_special_tokens=False)
            text.append(_prose(decoded), style=style)
        return text

    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    for ids, style in runs:
        run_bytes = b"".join(token_bytes(tokenizer, int(token)) or b"" for token in ids)
        text.append(_prose(_escaped_bytes(decoder.decode(run_bytes))), style=style)
    leftover, _ = decoder.getstate()
    if leftover:
        text.append("".join(f"<0x{byte:02X}>" for byte in leftover), style="dim")
    return text


def _prose(text: str) -> str:
    return text.replace("\t", "→").replace("\n", "↵\n")


def format_probability(probability: float) -> str:
    """Format a probability with three decimals, or in scientific notation below 0.001 so that small values do not read as zero."""
    return f"{probability:.3f}" if probability >= 0.001 or probability == 0 else f"{probability:.1e}"


# ------------------------------------------------------------------------------ views of a block


@dataclass(frozen=True)
class TokenCandidate:
    """One entry of a top-k list at a position."""

    token_id: int
    text: str
    """Display text, from :func:`visible_token`."""
    probability: float


@dataclass(frozen=True)
class DraftedToken:
    """One drafted token and the teacher's view of it."""

    token_id: int
    text: str
    """Display text, from :func:`visible_token`."""
    probability: float
    """Teacher probability at the teacher temperature."""
    rank: int
    """Teacher rank, 0-based."""
    verdict: str
    """"accepted" (in the accepted prefix), "rejected" (the first token outside it) or "dropped"
    (after the rejection, so it was discarded with the teacher's context)."""


@dataclass(frozen=True)
class BlockView:
    """One verified block, ready to render."""

    index: int
    """Block number within the episode, from 1."""
    tokens: tuple[DraftedToken, ...]
    num_accepted: int
    correction: TokenCandidate | None
    """The teacher's replacement at the rejected position; None when the whole block was accepted."""
    teacher_top: tuple[TokenCandidate, ...]
    """Teacher top-k at the rejected position; empty when the whole block was accepted."""
    student_top: tuple[TokenCandidate, ...] | None
    """Student top-k at the rejected position; None when no student distribution is known."""
    drafted_total: int
    """Tokens drafted in the episode up to and including this block."""
    accepted_total: int
    """Tokens accepted in the episode up to and including this block."""
    response_length: int
    num_ignored: int
    """Drafted tokens cut before verification (after a stop token or beyond the length budget)."""

    @property
    def gamma(self) -> int:
        """Draft length γ of the verified block."""
        return len(self.tokens)

    @property
    def acceptance_rate(self) -> float:
        """Running acceptance rate of the episode after this block."""
        return self.accepted_total / self.drafted_total if self.drafted_total else 0.0


def top_candidates(tokenizer: Any, log_probs: torch.Tensor, k: int) -> tuple[TokenCandidate, ...]:
    """Return the ``k`` most likely tokens of a (V,) log-probability row, most likely first."""
    values, indices = torch.topk(log_probs.detach().float().cpu(), min(k, log_probs.shape[-1]))
    return tuple(
        TokenCandidate(int(index), visible_token(tokenizer, int(index)), float(value.exp()))
        for value, index in zip(values, indices)
    )


def build_block_view(
    tokenizer: Any,
    step: Mapping[str, Any],
    index: int,
    drafted_before: int,
    accepted_before: int,
    top_k: int = DEFAULT_TOP_K,
    student_top: tuple[TokenCandidate, ...] | None = None,
) -> BlockView:
    """Build the view of one ``env.history`` entry (its "draft" plus the step info)."""
    draft = [int(token) for token in step["draft"]]
    num_accepted = int(step["num_accepted"])
    tokens = []
    for position, token in enumerate(draft):
        if position < num_accepted:
            verdict = "accepted"
        elif position == num_accepted:
            verdict = "rejected"
        else:
            verdict = "dropped"
        tokens.append(
            DraftedToken(
                token, visible_token(tokenizer, token), float(step["draft_probs"][position]), int(step["draft_ranks"][position]), verdict
            )
        )

    correction = None
    teacher_top: tuple[TokenCandidate, ...] = ()
    rejected = num_accepted < len(draft) and int(step["correction"]) >= 0
    if rejected:
        correction_id = int(step["correction"])
        correction_probability = float("nan")
        # NOTE: only the env's default record="log_probs" carries the teacher's full row; with
        # "top_k" or "hidden" the view shows no teacher top list and a NaN correction probability.
        if "teacher_log_probs" in step:
            # Row n of the teacher's record is its distribution at the rejected position n.
            row = step["teacher_log_probs"].log_probs[num_accepted]  # (V,)
            correction_probability = float(row[correction_id].exp())
            teacher_top = top_candidates(tokenizer, row, top_k)
        correction = TokenCandidate(correction_id, visible_token(tokenizer, correction_id), correction_probability)

    return BlockView(
        index=index,
        tokens=tuple(tokens),
        num_accepted=num_accepted,
        correction=correction,
        teacher_top=teacher_top,
        student_top=student_top if rejected else None,
        drafted_total=drafted_before + len(draft),
        accepted_total=accepted_before + num_accepted,
        response_length=int(step["response_length"]),
        num_ignored=int(step.get("num_ignored", 0)),
    )


def block_views(
    env: Any, top_k: int = DEFAULT_TOP_K, student_tops: Mapping[int, tuple[TokenCandidate, ...]] | None = None
) -> list[BlockView]:
    """Build the views of every block of the episode so far. ``student_tops`` maps a block number to its student top-k."""
    views: list[BlockView] = []
    drafted = accepted = 0
    for index, step in enumerate(env.history, start=1):
        student_top = (student_tops or {}).get(index)
        view = build_block_view(env.tokenizer, step, index, drafted, accepted, top_k, student_top)
        drafted, accepted = view.drafted_total, view.accepted_total
        views.append(view)
    return views


def latest_block_view(env: Any, top_k: int = DEFAULT_TOP_K, student_top: tuple[TokenCandidate, ...] | None = None) -> BlockView:
    """Build the view of the last block only. Earlier blocks count towards the running totals without being rendered."""
    earlier = env.history[:-1]
    drafted = sum(len(step["draft"]) for step in earlier)
    accepted = sum(int(step["num_accepted"]) for step in earlier)
    return build_block_view(env.tokenizer, env.history[-1], len(env.history), drafted, accepted, top_k, student_top)


# ------------------------------------------------------------------------------ renderables


def sample_panels(sample: Any, height: int | None = None, teacher_knowledge: str | None = None) -> RenderableType:
    """Build the query panel (the student's input) beside the knowledge panel (the teacher's privileged input).

    ``height`` fixes the panels' height in lines for a screen of fixed size, and longer text is cut.
    ``teacher_knowledge`` is the knowledge as the teacher reads it, when the environment cut it;
    the panel then shows that text and says how much of the paragraph it is.
    """
    knowledge = sample.knowledge if sample.knowledge is not None else "(none: this item has no knowledge paragraph)"
    subtitle = f"teacher only, {len(knowledge)} characters"
    if teacher_knowledge is not None and sample.knowledge is not None and teacher_knowledge != sample.knowledge:
        subtitle = f"teacher only, first {len(teacher_knowledge)} of {len(knowledge)} chars"
        knowledge = teacher_knowledge
    grid = Table.grid(expand=True, padding=(0, 1))
    # overflow="fold" also keeps rich from cutting a wrapped line of Hangul with an ellipsis.
    grid.add_column(ratio=2, overflow="fold")
    grid.add_column(ratio=3, overflow="fold")
    grid.add_row(
        Panel(
            Text(sample.query), title=f"query Q · {sample.id}", subtitle="student view",
            title_align="left", subtitle_align="left", border_style="cyan", height=height,
        ),
        Panel(
            Text(knowledge), title="knowledge K", subtitle=subtitle,
            title_align="left", subtitle_align="left", border_style="magenta", height=height,
        ),
    )
    return grid


def block_title(view: BlockView) -> Text:
    """Build the panel title of a block: its number and draft length γ."""
    return Text(f"block {view.index:>3} | γ {view.gamma}", style="bold")


def block_summary(view: BlockView) -> Text:
    """Build the line with the accepted count, the running acceptance rate and the response length."""
    line = Text(f"accepted {view.num_accepted}/{view.gamma}")
    line.append(f" | acceptance rate {view.acceptance_rate:.2f} ({view.accepted_total}/{view.drafted_total})")
    line.append(f" | response {view.response_length} tokens")
    if view.num_ignored:
        line.append(f" | {view.num_ignored} drafted tokens ignored", style="dim")
    return line


def drafted_tokens_table(view: BlockView) -> Table:
    """Build the table of drafted tokens with the teacher's probability, rank and verdict, and the correction beside the rejected token."""
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("drafted", overflow="fold")
    table.add_column("teacher p", justify="right")
    table.add_column("rank", justify="right")
    table.add_column("verdict", overflow="fold")
    for position, token in enumerate(view.tokens):
        verdict = Text(VERDICT_MARKS[token.verdict], style=STYLES[token.verdict].replace(" strike", ""))
        if token.verdict == "rejected" and view.correction is not None:
            verdict.append(" ")
            verdict.append(view.correction.text, style=STYLES["correction"])
            verdict.append(f" (p {format_probability(view.correction.probability)})", style="dim")
        table.add_row(str(position), Text(token.text, style=STYLES[token.verdict]), format_probability(token.probability), str(token.rank + 1), verdict)  # shown 1-based, like the top-k table
    return table


def top_k_table(view: BlockView) -> Table | None:
    """Build the table of teacher and student top-k at the rejected position, or return None when nothing was rejected."""
    if not view.teacher_top:
        return None
    rejected = view.tokens[view.num_accepted]
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold", title=f"top-{len(view.teacher_top)} at position {view.num_accepted}", title_justify="left")
    table.add_column("k", justify="right")
    table.add_column("teacher", overflow="fold")
    table.add_column("p", justify="right")
    if view.student_top is not None:
        table.add_column("student", overflow="fold")
        table.add_column("p", justify="right")
    for rank, teacher in enumerate(view.teacher_top):
        row: list[Any] = [str(rank + 1), _candidate_text(teacher, rejected, view.correction), format_probability(teacher.probability)]
        if view.student_top is not None:
            if rank < len(view.student_top):
                student = view.student_top[rank]
                row += [_candidate_text(student, rejected, view.correction), format_probability(student.probability)]
            else:
                row += ["", ""]
        table.add_row(*row)
    return table


def _candidate_text(candidate: TokenCandidate, rejected: DraftedToken, correction: TokenCandidate | None) -> Text:
    """Style a top-k entry like the rejected draft or the correction when it is one of them."""
    if candidate.token_id == rejected.token_id:
        return Text(candidate.text, style="red underline")
    if correction is not None and candidate.token_id == correction.token_id:
        return Text(candidate.text, style=STYLES["correction"])
    return Text(candidate.text)


def block_panel(view: BlockView) -> Panel:
    """Build the panel of one block: its summary line, then the drafted tokens and the top-k lists of a rejection."""
    body: RenderableType = drafted_tokens_table(view)
    top_k = top_k_table(view)
    if top_k is not None:
        # Columns puts the two tables side by side when the console is wide enough, else one under the other.
        body = Columns([body, top_k], padding=(0, 3))
    border = "green" if view.correction is None else "red"
    return Panel(Group(block_summary(view), body), title=block_title(view), title_align="left", border_style=border)


def response_panel(tokenizer: Any, history: Sequence[Mapping[str, Any]], title: str = "response so far") -> Panel:
    """Build the panel of the response so far, with accepted drafts in green and the teacher's corrections in yellow."""
    runs: list[tuple[Sequence[int], str]] = []
    for step in history:
        appended = [int(token) for token in step["appended"]]
        num_accepted = int(step["num_accepted"])
        runs.append((appended[:num_accepted], STYLES["accepted"]))
        if len(appended) > num_accepted:
            runs.append((appended[num_accepted:], STYLES["correction"]))
    return Panel(response_runs(tokenizer, runs), title=title, title_align="left")


def episode_summary(views: Sequence[BlockView], done: bool) -> Text:
    """Build the closing line of an episode: blocks, response length and the acceptance rate."""
    if not views:
        return Text("no blocks yet | acceptance rate 0.00")
    last = views[-1]
    state = "episode ended" if done else "episode running"
    return Text(
        f"{state} | {len(views)} blocks | response {last.response_length} tokens | "
        f"acceptance rate {last.acceptance_rate:.2f} ({last.accepted_total}/{last.drafted_total})",
        style="bold",
    )


def episode_renderable(env: Any, views: Sequence[BlockView]) -> Group:
    """Build the whole episode so far: the sample panels, every block, the response and the closing line."""
    if env.sample is None:
        return Group(Text("no episode: call reset() first"))
    parts: list[RenderableType] = [sample_panels(env.sample, teacher_knowledge=env.teacher_knowledge(env.sample))]
    parts += [block_panel(view) for view in views]
    parts += [response_panel(env.tokenizer, env.history), episode_summary(views, env.done)]
    return Group(*parts)


# ------------------------------------------------------------------------------ environment render modes


def ansi_console(file: io.StringIO, width: int = ANSI_WIDTH) -> Console:
    """Create a console that writes deterministic ANSI text of a fixed width into ``file``."""
    return Console(
        file=file, width=width, force_terminal=True, color_system="standard", highlight=False, emoji=False, legacy_windows=False
    )


def render_episode_text(env: Any, width: int = ANSI_WIDTH) -> str:
    """Render the episode so far as text with ANSI colours (``render_mode="ansi"``)."""
    buffer = io.StringIO()
    ansi_console(buffer, width).print(episode_renderable(env, block_views(env)))
    return buffer.getvalue()


def print_episode(env: Any, console: Console | None = None) -> None:
    """Print the latest block to the console (``render_mode="human"``), after the sample panels on the first block."""
    console = console or Console(highlight=False, emoji=False)
    if env.sample is None:
        return
    if len(env.history) <= 1:
        console.print(sample_panels(env.sample, teacher_knowledge=env.teacher_knowledge(env.sample)))
    if env.history:
        console.print(block_panel(latest_block_view(env)))
    if env.done:
        console.print(response_panel(env.tokenizer, env.history, title="response"))
