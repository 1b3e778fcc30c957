"""Hook fallbacks declared once: the first alternative this kernel can run wins.

In the BPF program (bpfkit.bpf.h):

    BPFKIT_HOOKS(unlink, unlink_fentry, unlink_kprobe, unlink_tp);
    BPFKIT_HOOKS(openat, openat_fexit, enter_openat+exit_openat);   // "+": needed together
    BPFKIT_HOOKS_OPTIONAL(open, enter_open+exit_open);   // may end up with none

or from Python before load: ``obj.declare_hooks("unlink", "unlink_fentry", ...)``.
At load, each group keeps its first alternative whose hooks this kernel offers
(every program of it: kinds.AttachKind.refusal, from kernel.features) and
switches the others off, as libbpf-tools does by hand with fentry_can_attach()
/ kprobe_exists() / tracepoint_exists(). A program shared by two groups is
loaded when either keeps it. ``obj.chosen_hooks`` says what was kept and why
the others were not. ``obj.restrict_hooks(kinds)`` forces a kind of hook (a
tool's --hooks): only the alternatives made of those kinds stay. A group none
of whose programs was set to load when load began (switched off by hand) is
left alone.
"""

from __future__ import annotations

from .bpfkit_h import HOOKS_ALL_OF, HOOKS_OPTIONAL_MARK
from .kernel.errors import BPFKernelFeatureError
from .kinds import target_of_section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from .program import Program

Alternative = tuple[str, ...]  # program names needed together


class HookGroup:
    """Alternatives for one hook, best first."""

    __slots__ = ("alternatives", "name", "optional")

    def __init__(self, name: str, alternatives: Iterable[str | Alternative], *,
                 optional: bool = False) -> None:
        self.name, self.optional = name, optional
        self.alternatives: list[Alternative] = [
            tuple(p.strip() for p in a.split(HOOKS_ALL_OF)) if isinstance(a, str) else tuple(a)
            for a in alternatives]

    @classmethod
    def parse(cls, name: str, text: str) -> HookGroup:
        """From the string BPFKIT_HOOKS / BPFKIT_HOOKS_OPTIONAL leave in .rodata."""
        text = text.strip()
        optional = text.startswith(HOOKS_OPTIONAL_MARK)
        items = [x.strip() for x in text.lstrip(HOOKS_OPTIONAL_MARK).split(",") if x.strip()]
        return cls(name, items, optional=optional)

    def programs(self) -> set[str]:
        return {p for alt in self.alternatives for p in alt}


class HookChoice:
    """One group's outcome: the alternative kept (None: an optional group that
    kept nothing), and why each earlier one was not."""

    __slots__ = ("group", "kind", "programs", "skipped")

    def __init__(self, group: str, programs: Alternative | None, kind: str | None,
                 skipped: list[tuple[str, str]]) -> None:
        self.group, self.programs, self.kind, self.skipped = group, programs, kind, skipped

    @property
    def program(self) -> str | None:
        """The kept alternative as written: "unlink_tp", "enter_open+exit_open"."""
        return HOOKS_ALL_OF.join(self.programs) if self.programs else None

    def __repr__(self) -> str:
        return f"<HookChoice {self.group}: {self.program} ({self.kind})>"

    def __str__(self) -> str:
        why = "".join(f"; {name} skipped: {reason}" for name, reason in self.skipped)
        kept = f"{self.program} ({self.kind})" if self.programs else "none (optional)"
        return f"{self.group}: {kept}{why}"


def refusal(prog: Program) -> str | None:
    """Why this kernel cannot run ``prog``'s hook, or None when it can."""
    return prog.attach_kind.refusal(target_of_section(prog.section))


def _decide(group: HookGroup, progs: dict[str, Program]) -> HookChoice:
    skipped: list[tuple[str, str]] = []
    for alt in group.alternatives:
        reason = next((r for r in map(refusal, (progs[n] for n in alt)) if r is not None), None)
        if reason is None:
            return HookChoice(group.name, alt, progs[alt[0]].kind, skipped)
        skipped.append((HOOKS_ALL_OF.join(alt), reason))
    if group.optional:
        return HookChoice(group.name, None, None, skipped)
    tried = "; ".join(f"{name}: {reason}" for name, reason in skipped)
    raise BPFKernelFeatureError(f"no hook of {group.name!r} works on this kernel ({tried})")


def choose(groups: Iterable[HookGroup], progs: dict[str, Program]) -> dict[str, HookChoice]:
    """Decide every group, then set autoload: on for each program some group
    kept, off for the other programs of the groups."""
    groups = list(groups)
    wanted = {n for g in groups for n in g.programs() if progs[n].autoload}
    choices: dict[str, HookChoice] = {}
    for g in groups:
        if g.programs() & wanted:
            choices[g.name] = _decide(g, progs)
    kept = {n for c in choices.values() for n in c.programs or ()}
    for g in groups:
        if g.name in choices:
            for n in g.programs():
                progs[n].autoload = n in kept
    return choices


def restrict(groups: Iterable[HookGroup], progs: dict[str, Program],
             kinds: frozenset[str]) -> dict[str, HookGroup]:
    """Each group with only its alternatives made of programs of ``kinds`` (a
    forced choice, like a tool's --hooks), and the programs no group can keep
    any more switched off. A group left with no alternative is a ValueError."""
    groups = [g for g in groups if any(progs[n].autoload for n in g.programs())]  # as choose()
    kept: dict[str, HookGroup] = {}
    for g in groups:
        alts = [a for a in g.alternatives if all(progs[n].kind in kinds for n in a)]
        if not alts:
            raise ValueError(f"hook group {g.name!r} has no alternative made of "
                             f"{'/'.join(sorted(kinds))} programs")
        kept[g.name] = HookGroup(g.name, alts, optional=g.optional)
    keep = {n for g in kept.values() for n in g.programs()}
    for g in groups:  # a program of a dropped alternative may still be another group's
        for n in g.programs() - keep:
            progs[n].autoload = False
    return kept


__all__ = ["HookChoice", "HookGroup", "choose", "refusal", "restrict"]
