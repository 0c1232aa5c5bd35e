"""A synthetic ``cati/1`` questionnaire with about 2,000 questions, for engine benchmarks.

Why synthetic: real questionnaires are short; the engine's promise is that a step costs the same
at question 10 and at question 1,990, so the benchmark needs a long one with everything that
costs time on the hot path: blocks with conditions, skipped questions, loops, grids, randomised
options, fills and soft/hard checks that reference earlier answers.

Run ``python benchmarks/synthetic_questionnaire.py > big.yaml`` to look at it.
"""

from __future__ import annotations

import random
import sys

OPTIONS = "[{code: 1, de: eins}, {code: 2, de: zwei}, {code: 3, de: drei}, {code: 4, de: vier}, {code: 5, de: fünf}]"


def _question(rng: random.Random, n: int, earlier: list[str]) -> str:
    qid = f"Q{n}"
    ref = rng.choice(earlier) if earlier else None
    kind = rng.choice(["single", "single", "numeric", "numeric", "multi", "text", "grid"])
    show_if = ""
    if ref and rng.random() < 0.25:
        # about a third of these conditions are false for the benchmark respondent: real skips
        show_if = f', show_if: "{ref} != 3"' if rng.random() < 0.7 else f', show_if: "{ref} == 3"'
    text = f'"Frage {n}' + (f' (vorher: {{{ref}}})"' if ref and rng.random() < 0.3 else '"')
    if kind == "single":
        randomize = ", randomize: shuffle" if rng.random() < 0.2 else ""
        return f"- {{id: {qid}, type: single, special: [DK], text: {text}{show_if}{randomize}, options: {OPTIONS}}}"
    if kind == "multi":
        return f"- {{id: {qid}, type: multi, special: [DK], max_choices: 3, text: {text}{show_if}, options: {OPTIONS}}}"
    if kind == "text":
        return f"- {{id: {qid}, type: text, max_length: 40, text: {text}{show_if}}}"
    if kind == "grid":
        rows = "[{code: 1, de: a}, {code: 2, de: b}, {code: 3, de: c}]"
        return f"- {{id: {qid}, type: grid, text: {text}{show_if}, rows: {rows}, options: {OPTIONS}}}"
    checks = ""
    if ref and rng.random() < 0.5:
        checks = (
            f', checks: [{{assert: "{qid} <= 100", severity: hard, message: "zu groß"}},'
            f' {{assert: "{qid} >= 0 or {ref} == 5", severity: soft, message: "sicher? {{{qid}}}"}}]'
        )
    return f"- {{id: {qid}, type: numeric, min: 0, max: 100, special: [DK, REF], text: {text}{show_if}{checks}}}"


def synthetic_questionnaire(questions: int = 2000, seed: int = 1) -> str:
    """YAML text of a questionnaire with ``questions`` question definitions."""
    rng = random.Random(seed)
    lines = [
        "format: cati/1",
        "id: synthetic",
        "version: 1",
        "title: Synthetischer Fragebogen",
        "languages: [de]",
        "dispositions:",
        "  COMPLETE: 1",
        '  SO: {code: 2, aapor: "4.70"}',
        "flow:",
    ]
    n = 0
    block = 0
    earlier: list[str] = []  # ids of single/numeric questions outside loops, usable in conditions
    singles: list[str] = []
    while n < questions:
        block += 1
        show_if = f'\n    show_if: "{rng.choice(singles)} != 4"' if singles and rng.random() < 0.3 else ""
        lines.append(f"  - block: B{block}{show_if}")
        lines.append("    body:")
        body_size = min(40, questions - n)
        for _ in range(body_size):
            n += 1
            question = _question(rng, n, earlier[-50:])
            lines.append("      " + question)
            if "type: single" in question or "type: numeric" in question:
                earlier.append(f"Q{n}")
                if "type: single" in question and "show_if" not in question:
                    singles.append(f"Q{n}")
        if n + 4 <= questions and block % 5 == 0:
            # a loop over a multi question: 3 body questions per mentioned item
            multi = f"L{block}"
            lines.append(f"      - {{id: {multi}, type: multi, text: Welche?, options: {OPTIONS}}}")
            lines.append(f"      - loop: LL{block}")
            lines.append(f"        over: {multi}")
            lines.append("        body:")
            for _ in range(3):
                n += 1
                lines.append(
                    f"          - {{id: Q{n}, type: single, text: 'Zu {{$label}}: Frage {n}', options: {OPTIONS}}}"
                )
        if earlier:
            lines.append(f'      - {{end: SO, if: "{rng.choice(earlier)} == 99"}}')
    lines.append("  - {end: COMPLETE}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(synthetic_questionnaire(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
