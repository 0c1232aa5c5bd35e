"""One small file per checker rule: it must give exactly the expected ``LINE:COL: message``.

The marker ``»`` in a snippet stands where the problem must be reported; it is removed before
checking.
"""

from __future__ import annotations

import pytest

from .helpers import HEADER, doc, marked, problems

SINGLE = "options: [{code: 1, text: a}, {code: 2, text: b}]"

CASES = [
    # ---- structure (schema.py)
    (
        "unknown key with hint",
        doc(f"- {{id: Q1, type: single, text: A, »show_iff: 'true', {SINGLE}}}\n"),
        "single question: unknown key 'show_iff' (did you mean 'show_if'?)",
    ),
    (
        "key of another question type",
        doc(f"- {{id: Q1, type: single, text: A, »max_length: 3, {SINGLE}}}\n"),
        "single question: key 'max_length' does not apply here",
    ),
    (
        "unknown question type with hint",
        doc(f"- {{id: Q1, type: »singel, text: A, {SINGLE}}}\n"),
        "type: 'singel' is not a question type (single, multi, numeric, text, date, grid, nps, computed) "
        "(did you mean 'single'?)",
    ),
    (
        "question type is a list",
        doc("- {id: Q1, type: »[single], text: A}\n"),
        "type: expected a question type (single, multi, numeric, text, date, grid, nps, computed), found a list",
    ),
    (
        "question type is null",
        doc("- {id: Q1, type: »null, text: A}\n"),
        "type: expected a question type (single, multi, numeric, text, date, grid, nps, computed), "
        "found nothing (null)",
    ),
    (
        "question without type",
        doc("- »{id: Q1, text: A}\n"),
        "question Q1: missing key 'type' (single, multi, numeric, text, date, grid, nps, computed)",
    ),
    (
        "option code is not an integer",
        doc("- {id: Q1, type: single, text: A, options: [{code: »a, text: x}]}\n"),
        "code: expected an integer, found the text 'a'",
    ),
    (
        "boolean where a number is expected",
        doc("- {id: Q1, type: numeric, text: A, min: 0, max: »yes}\n"),
        "max: expected a number, an ISO date or an expression, found the boolean 'yes'",
    ),
    (
        "text too long for SPSS",
        doc("- {id: Q1, type: text, text: A, max_length: »40000}\n"),
        "max_length: 40000 is outside 1..32767",
    ),
    (
        "unknown top-level key",
        HEADER + "»langauges: [de]\nflow:\n- {info: i, text: x}\n",
        "questionnaire: unknown key 'langauges' (did you mean 'languages'?)",
    ),
    (
        "flow node of unknown kind",
        doc("- »{text: A}\n"),
        "cannot tell what this flow node is: give a question 'id' and 'type', or one of info, block, loop, quota, end",
    ),
    (
        "bad severity",
        doc(
            "- {id: Q1, type: numeric, text: A, min: 0, max: 9, checks: [{assert: 'Q1 > 1', severity: »hrad, "
            "message: m}]}\n"
        ),
        "severity: 'hrad' is not one of hard, soft (did you mean 'hard'?)",
    ),
    # ---- YAML
    ("duplicate key", doc("- {info: i, text: a, »text: b}\n"), "duplicate key 'text' (first given at line 10)"),
    # ---- top level
    (
        "unknown major format version",
        "format: »cati/2\n" + HEADER.split("\n", 1)[1] + "flow:\n- {info: i, text: x}\n",
        "format: unsupported version 'cati/2'; this checker reads cati/1",
    ),
    (
        "questionnaire id pattern",
        HEADER.replace("id: t", "id: »Bad-Id") + "flow:\n- {info: i, text: x}\n",
        "id: 'Bad-Id' must start with a lower-case letter and use only a-z, 0-9 and '_'",
    ),
    (
        "COMPLETE is required",
        "format: cati/1\nid: t\nversion: 1\ntitle: T\nlanguages: [en]\ndispositions: »{SO: {code: 2, aapor: '4.70'}}\n"
        "flow:\n- {info: i, text: x}\n",
        "dispositions: COMPLETE is required (e.g. 'COMPLETE: 1')",
    ),
    (
        "AAPOR code pattern",
        HEADER.replace('aapor: "4.70"', 'aapor: »"47"') + "flow:\n- {info: i, text: x}\n",
        "dispositions.SO: aapor '47' is not an AAPOR code like '2.112' or '4.70'",
    ),
    (
        "disposition codes unique",
        HEADER.replace("SO: {code: 2", "SO: {code: »1") + "flow:\n- {info: i, text: x}\n",
        "dispositions.SO: code 1 is already used by COMPLETE",
    ),
    (
        "disposition without AAPOR class",
        HEADER + "  X: »3\nflow:\n- {info: i, text: x}\n",
        'dispositions.X: write {code: 3, aapor: "X.Y"} (AAPOR class needed)',
    ),
    (
        "languages unique",
        HEADER.replace("languages: [en]", "languages: [en, »en]") + "flow:\n- {info: i, text: x}\n",
        "languages: 'en' is listed twice",
    ),
    # ---- texts
    (
        "plain text in a two-language questionnaire",
        HEADER.replace("languages: [en]", "languages: [de, en]").replace("title: T", "title: {de: T, en: T}")
        + "flow:\n- {info: i, text: »Hallo}\n",
        "info i text: a plain text, but the questionnaire has the languages de, en; write {de: ..., en: ...}",
    ),
    (
        "missing language",
        HEADER.replace("languages: [en]", "languages: [de, en]").replace("title: T", "title: {de: T, en: T}")
        + "flow:\n- {info: i, text: »{de: Hallo}}\n",
        "info i text: missing the en text",
    ),
    (
        "special codes widened beyond what a double holds exactly",
        doc("- »{id: N, type: numeric, text: A, min: 0, max: 1000000000000000, special: [DK]}\n"),
        "N: the codes 99999999999999998 of DK are too large to store exactly; set special_codes",
    ),
    (
        "one language empty, another not",
        HEADER.replace("languages: [en]", "languages: [de, en]").replace("title: T", "title: {de: T, en: T}")
        + "flow:\n- {id: Q1, type: single, text: {de: Frage, en: Q},\n"
        + "   options: [{code: 1, de: ja, en: »''}, {code: 2, de: '', en: ''}]}\n",
        "Q1 option 1: the en text is empty while the others are not (every text in every language)",
    ),
    (
        "undeclared language",
        doc("- {info: i, text: {en: Hi, »fr: Salut}}\n"),
        "info i text: language 'fr' is not in languages",
    ),
    # ---- fills
    (
        "fill of a later question",
        doc("- {info: i, text: 'Hi {»Q1}'}\n- {id: Q1, type: text, text: A}\n"),
        "info i text: Q1 is not asked before this point (only earlier questions can be used)",
    ),
    (
        "unknown fill variable",
        doc("- {id: Q1, type: text, text: A}\n- {info: i, text: 'Hi {»Q2x}'}\n"),
        "info i text: unknown variable 'Q2x'",
    ),
    (
        "label fill needs labels",
        doc("- {id: Q1, type: text, text: A}\n- {info: i, text: '{»Q1:label}'}\n"),
        "info i text: {Q1:label} needs a variable with answer labels (single, multi, grid row, or computed/sample "
        "with options)",
    ),
    (
        "loop fill outside a loop",
        doc("- {info: i, text: 'Hi {»$label}'}\n"),
        "info i text: {$label} can only be used inside a loop",
    ),
    (
        "unknown $ fill",
        doc("- {info: i, text: 'Hi {»$name}'}\n"),
        "info i text: unknown fill {$name} (known: {$label}, {$code}, {$interviewer})",
    ),
    (
        "single closing brace",
        doc("- {info: i, text: 'a »} b'}\n"),
        "info i text: a single '}' in a text: write '}}' for a literal brace",
    ),
    (
        "unclosed brace",
        doc("- {info: i, text: 'a »{b'}\n"),
        "info i text: '{' without a closing '}' (write '{{' for a literal brace)",
    ),
    (
        "unknown fill format",
        doc("- {id: Q1, type: single, text: A, " + SINGLE + "}\n- {info: i, text: '{»Q1:code}'}\n"),
        "info i text: unknown fill format ':code' in {Q1:code} (only ':label' exists)",
    ),
    (
        "label with a variable fill",
        doc("- {id: Q0, type: text, text: A}\n- {id: Q1, type: text, text: A, label: 'L {»Q0}'}\n"),
        "Q1 label: only {$label} and {$code} may be filled in here",
    ),
    # ---- references and routing
    (
        "forward reference in show_if",
        doc("- {id: Q1, type: text, text: A, show_if: '»Q2 == 1'}\n- {id: Q2, type: text, text: B}\n"),
        "Q1 show_if: Q2 is not asked before this point (only earlier questions can be used)",
    ),
    (
        "self reference in show_if",
        doc("- {id: Q1, type: text, text: A, show_if: 'answered(»Q1)'}\n"),
        "Q1 show_if: Q1 is not asked before this point (only earlier questions can be used)",
    ),
    (
        "unknown variable with hint",
        doc("- {id: Age, type: numeric, text: A, min: 0, max: 9}\n- {info: i, text: x, show_if: '»age > 1'}\n"),
        "info i show_if: unknown variable 'age' (did you mean 'Age'?)",
    ),
    (
        "multi dichotomy is not a variable",
        doc("- {id: M, type: multi, text: A, " + SINGLE + "}\n- {info: i, text: x, show_if: '»M_1 == 1'}\n"),
        "info i show_if: M_1 is not a variable; use selected(M, 1)",
    ),
    (
        "grid id is not a variable",
        doc(
            "- {id: G, type: grid, text: A, rows: [{code: 1, text: r}], " + SINGLE + "}\n"
            "- {info: i, text: x, show_if: '»G == 1'}\n"
        ),
        "info i show_if: G is a grid; refer to its rows as G_<row code>",
    ),
    (
        "goto backwards",
        doc(
            "- {id: Q1, type: text, text: A}\n- {id: Q2, type: text, text: B, goto: [{if: 'answered(Q2)', to: »Q1}]}\n"
        ),
        "Q2 goto: 'Q1' comes before Q2; goto may only jump forward",
    ),
    (
        "goto to an unknown node",
        doc("- {id: Q1, type: text, text: A, goto: [{if: 'answered(Q1)', to: »Q9}]}\n"),
        "Q1 goto: unknown target 'Q9'",
    ),
    (
        "end with unknown disposition",
        doc("- {end: »SO_X, if: 'true'}\n"),
        "end: 'SO_X' is not a disposition (did you mean 'SO'?)",
    ),
    (
        "node after an unconditional end",
        doc("- {end: COMPLETE}\n- »{info: i, text: x}\n"),
        "this node is never reached: the end at line 10 has no condition",
    ),
    (
        "randomised block sibling",
        doc(
            "- block: b\n  randomize: shuffle\n  body:\n"
            "  - {id: Q1, type: text, text: A}\n"
            "  - {id: Q2, type: text, text: B, show_if: 'answered(»Q1)'}\n"
        ),
        "Q2 show_if: Q1 is in the randomised block 'b' too, so it may be asked later; refer only to questions "
        "outside the block",
    ),
    (
        "loop over a numeric",
        doc(
            "- {id: N, type: numeric, text: A, min: 0, max: 9}\n"
            "- {loop: L, over: »N, body: [{id: X, type: text, text: B}]}\n"
        ),
        "loop L: over N must be a single or multi question (it is numeric)",
    ),
    (
        "count loop without max",
        doc(
            "- {id: N, type: numeric, text: A, min: 0, max: 9}\n"
            "- »{loop: L, count: N, body: [{id: X, type: text, text: B}]}\n"
        ),
        "loop L: a count loop needs 'max' (the most iterations, for export names)",
    ),
    (
        "loop body name outside the loop",
        doc(
            "- {id: M, type: multi, text: A, " + SINGLE + "}\n"
            "- {loop: L, over: M, body: [{id: X, type: text, text: B}]}\n"
            "- {info: i, text: x, show_if: 'answered(»X)'}\n"
        ),
        "info i show_if: X is inside loop 'L'; outside it refer to X_<item code>",
    ),
    # ---- question rules
    (
        "numeric min above max",
        doc("- {id: Q1, type: numeric, text: A, min: »10, max: 1}\n"),
        "Q1: min 10 is larger than max 1",
    ),
    ("numeric needs max", doc("- »{id: Q1, type: numeric, text: A, min: 1}\n"), "Q1: numeric questions need 'max'"),
    (
        "decimals in an integer range",
        doc("- {id: Q1, type: numeric, text: A, min: 0, max: »9.5}\n"),
        "Q1: max 9.5 has decimals but 'decimals' is 0",
    ),
    (
        "option codes unique",
        doc("- {id: Q1, type: single, text: A, options: [{code: 1, text: a}, {code: »1, text: b}]}\n"),
        "Q1: option code 1 is used twice",
    ),
    (
        "special code collides with an option",
        doc("- {id: Q1, type: single, text: A, special: [DK], options: [{code: 1, text: a}, »{code: 98, text: b}]}\n"),
        "Q1: option code 98 is also the code of DK; use another code or set special_codes",
    ),
    ("unknown list", doc("- {id: Q1, type: single, text: A, list: »yesno}\n"), "Q1: unknown list 'yesno'"),
    (
        "options and list",
        doc("- {id: Q1, type: single, text: A, »list: yn, " + SINGLE + "}\n", "lists:\n  yn: [{code: 1, text: y}]\n"),
        "Q1: give either options or list, not both",
    ),
    (
        "exclusive on a single",
        doc("- {id: Q1, type: single, text: A, options: [»{code: 1, text: a, exclusive: true}]}\n"),
        "Q1: 'exclusive' only applies to multi questions",
    ),
    (
        "min_choices above max_choices",
        doc("- {id: Q1, type: multi, text: A, min_choices: »2, max_choices: 1, " + SINGLE + "}\n"),
        "Q1: min_choices 2 is larger than max_choices 1",
    ),
    (
        "max_choices above the options",
        doc("- {id: Q1, type: multi, text: A, max_choices: »3, " + SINGLE + "}\n"),
        "Q1: max_choices 3 is more than the 2 options",
    ),
    (
        "special listed twice",
        doc("- {id: Q1, type: text, text: A, special: [DK, »DK]}\n"),
        "Q1: special DK is listed twice",
    ),
    ("random only in computed", doc("- {id: Q1, type: text, text: A, show_if: 'random_int(1, 2) == 1'}\n"), None),
    (
        "date min after max",
        doc("- {id: Q1, type: date, text: A, min: »2025-02-01, max: 2025-01-01}\n"),
        "Q1: min 2025-02-01 is after max 2025-01-01",
    ),
    (
        "invalid date",
        doc("- {id: Q1, type: date, text: A, min: »2025-02-30}\n"),
        "Q1: min '2025-02-30' is not a valid date",
    ),
    (
        "count loop over a text",
        doc(
            "- {id: T, type: text, text: A}\n"
            "- loop: L\n  count: »T\n  max: 3\n  body: [{id: Q, type: text, text: A}]\n"
        ),
        "loop L: count gives a text, not a number of iterations",
    ),
    (
        "count loop over true or false",
        doc("- loop: L\n  count: »'1 > 0'\n  max: 3\n  body: [{id: Q1, type: text, text: A}]\n"),
        "loop L: count gives true or false, not a number of iterations",
    ),
    (
        "date bound that gives a number",
        doc("- {id: N, type: numeric, text: A, min: 0, max: 9}\n- {id: Q1, type: date, text: A, max: »'N + 1'}\n"),
        "Q1: max 'N + 1' gives a number, not a date",
    ),
    (
        "date bound that gives true or false",
        doc("- {id: Q1, type: date, text: A, min: »'today() > today()'}\n"),
        "Q1: min 'today() > today()' gives true or false, not a date",
    ),
    # ---- names (checked on generated export names)
    ("name ending in underscore", doc("- {id: »Q1_, type: text, text: A}\n"), "name 'Q1_' must not end with '_'"),
    ("SPSS reserved word", doc("- {id: »all, type: text, text: A}\n"), "name 'all' is an SPSS reserved word"),
    (
        "id that expressions read as a special",
        doc("- {id: »DK, type: numeric, text: A, min: 0, max: 9}\n"),
        "name 'DK' is a word of the expression language (true, null, DK, and, in ...): rename it",
    ),
    (
        "id that YAML wrote as true",
        doc("- {id: »true, type: text, text: A}\n"),
        "name 'true' is a word of the expression language (true, null, DK, and, in ...): rename it",
    ),
    (
        "specify id that is a keyword",
        doc("- {id: Q1, type: single, text: A, options: [{code: 1, text: a, other: {id: »in}}]}\n"),
        "Q1 option 1 other: name 'in' is a word of the expression language (true, null, DK, and, in ...): rename it",
    ),
    (
        "sample field named like a special",
        doc("- {info: i, text: x}\n", "sample: [{name: »REF, type: text}]\n"),
        "sample: name 'REF' is a word of the expression language (true, null, DK, and, in ...): rename it",
    ),
    ("sys_ prefix", doc("- {id: »sys_x, type: text, text: A}\n"), "name 'sys_x': the prefix 'sys_' is reserved"),
    (
        "names unique ignoring case",
        doc("- {id: q1, type: text, text: A}\n- {id: »Q1, type: text, text: B}\n"),
        "id 'Q1' is already used at line 10 (ids are compared ignoring case)",
    ),
    (
        "paradata name",
        doc("- {id: »lang, type: text, text: A}\n"),
        "id 'lang' is reserved for paradata (resp_id, disposition, q_version, lang, interviewer_id, start_ts, end_ts, "
        "duration_s, n_soft_overrides, attempts)",
    ),
    (
        "paradata name added by the server's export",
        doc("- {id: »Attempts, type: text, text: A}\n"),
        "id 'Attempts' is reserved for paradata (resp_id, disposition, q_version, lang, interviewer_id, start_ts, "
        "end_ts, duration_s, n_soft_overrides, attempts)",
    ),
    (
        "name longer than 64 bytes",
        doc(f"- {{id: »Q{'x' * 64}, type: text, text: A}}\n"),
        f"name 'Q{'x' * 64}' is longer than 64 bytes",
    ),
    (
        "generated name clash",
        doc(
            "- {id: M, type: multi, text: A, options: [{code: 1, text: a}, {code: 2, text: b}]}\n"
            "- {id: »M_1, type: text, text: B}\n"
        ),
        "export variable M_1: variable name 'M_1' is already used by M (names are compared ignoring case)",
    ),
    (
        "generated name too long",
        doc(f"- {{id: {'G' * 63}, type: grid, text: A, rows: [{{code: »10, text: r}}], " + SINGLE + "}\n"),
        f"export variable {'G' * 63}_10: name '{'G' * 63}_10' is longer than 64 bytes",
    ),
    # ---- labels
    (
        "label longer than 256 bytes",
        doc(f"- {{id: Q1, type: text, text: A, label: »{'ä' * 129}}}\n"),
        "Q1 label: 258 bytes (en); SPSS keeps only 256",
    ),
    (
        "value label longer than 120 bytes",
        doc(f"- {{id: Q1, type: single, text: A, options: [{{code: 1, text: »{'ü' * 61}}}]}}\n"),
        "Q1 option 1: value label is 122 bytes (en); SPSS keeps only 120",
    ),
    (
        "generated label longer than 256 bytes",
        doc(f"- {{id: Q1, type: multi, text: A, label: {'x' * 250}, options: [{{code: »1, text: abcdefgh}}]}}\n"),
        "export variable Q1_1: label is 260 bytes; SPSS keeps only 256: shorten 'label'",
    ),
    # ---- quotas
    ("quota node of an unknown quota", doc("- {quota: »qq}\n"), "unknown quota 'qq'"),
    (
        "quota_open names an unknown cell",
        doc(
            "- {quota: qa}\n- {info: i, text: x, show_if: \"quota_open('qa.»alx')\"}\n",
            "quotas:\n  - {id: qa, on_full: SO, cells: [{id: a, if: 'true', target: 1},"
            " {id: alt, if: 'true', target: 1}]}\n",
        ),
        "info i show_if: quota 'qa' has no cell 'alx' (did you mean 'alt'?)",
    ),
    (
        "quota_open names an unknown quota with a cell",
        doc(
            "- {quota: qa}\n- {info: i, text: x, show_if: \"quota_open('»qq.a')\"}\n",
            "quotas:\n  - {id: qa, on_full: SO, cells: [{id: a, if: 'true', target: 1}]}\n",
        ),
        "info i show_if: unknown quota 'qq'",
    ),
    (
        "computed with options giving a text",
        doc(
            "- {id: T, type: text, text: A}\n"
            "- {id: C, type: computed, expr: »'T + \"x\"', options: [{code: 1, text: a}]}\n"
        ),
        "C: a computed question with options holds one code, but expr gives a text",
    ),
    (
        "computed with options giving a list",
        doc("- {id: C, type: computed, expr: »'[1, 2]', options: [{code: 1, text: a}]}\n"),
        "C: a computed question with options holds one code, but expr gives a list",
    ),
    (
        "computed with options giving a date",
        doc("- {id: C, type: computed, expr: »'today()', options: [{code: 1, text: a}]}\n"),
        "C: a computed question with options holds one code, but expr gives a date",
    ),
    (
        "decimals on a computed date",
        doc("- {id: C, type: computed, expr: 'today() + 7', »decimals: 1}\n"),
        "C: decimals do not apply to a date value",
    ),
    (
        "quota cell id is a value label of quota_<id>",
        doc(
            "- quota: qa\n",
            f"quotas:\n  - {{id: qa, on_full: SO, cells: [{{id: »{'c' * 121}, if: 'true', target: 1}}]}}\n",
        ),
        "quota qa cell: value label is 121 bytes; SPSS keeps only 120",
    ),
    (
        "disposition name is a value label of disposition",
        HEADER.replace("  SO:", f"  »S{'O' * 120}:") + "flow:\n- {info: i, text: x}\n",
        f"dispositions.S{'O' * 120}: value label is 121 bytes; SPSS keeps only 120",
    ),
    (
        "quota never assigned",
        doc("- {info: i, text: x}\n", "quotas:\n  - {id: »qa, on_full: SO, cells: [{id: a, if: 'true', target: 1}]}\n"),
        "quota 'qa' is never assigned: add '- quota: qa' to the flow",
    ),
    (
        "quota on_full unknown",
        doc("- {quota: qa}\n", "quotas:\n  - {id: qa, on_full: »FULL, cells: [{id: a, if: 'true', target: 1}]}\n"),
        "quota qa: on_full 'FULL' is not a disposition",
    ),
    (
        "quota cell uses a later variable",
        doc(
            "- {quota: qa}\n- {id: Q1, type: text, text: A}\n",
            "quotas:\n  - {id: qa, on_full: SO, cells: [{id: a, if: 'answered(»Q1)', target: 1}]}\n",
        ),
        "quota qa cell a: Q1 is not asked before this point (only earlier questions can be used)",
    ),
    (
        "quota cells unique",
        doc(
            "- {quota: qa}\n",
            "quotas:\n  - {id: qa, on_full: SO, cells: [{id: a, if: 'true', target: 1}, "
            "»{id: a, if: 'true', target: 2}]}\n",
        ),
        "quota qa: cell 'a' is defined twice",
    ),
    (
        "overshoot only for soft quotas",
        doc(
            "- {quota: qa}\n",
            "quotas:\n  - {id: qa, on_full: SO, »overshoot: 0.1, cells: [{id: a, if: 'true', target: 1}]}\n",
        ),
        "quota qa: overshoot only applies to mode: soft",
    ),
    # ---- sample and specials
    (
        "sample field name rules",
        doc("- {info: i, text: x}\n", "sample:\n  - {name: »1x, type: text}\n"),
        "name: '1x' must start with a letter and use only ASCII letters, digits and '_'",
    ),
    (
        "special without a label in the language",
        HEADER.replace("languages: [en]", "languages: [fr]").replace("title: T", "title: {fr: T}")
        + "flow:\n- {id: Q1, type: text, text: {fr: A}, special: [»DK]}\n",
        "Q1: special DK has no built-in label in fr; declare it under special_codes",
    ),
    (
        "special codes unique",
        doc("- {info: i, text: x}\n", "special_codes:\n  DK: {code: 98, text: dk}\n  REF: »{code: 98, text: ref}\n"),
        "special_codes: REF and DK have the same code 98",
    ),
]


@pytest.mark.parametrize(("name", "snippet", "message"), CASES, ids=[case[0] for case in CASES])
def test_rule(name: str, snippet: str, message: str | None) -> None:
    if message is None:  # the expression module words the message; the position is ours
        found = problems(snippet)
        assert len(found) == 1, found
        assert "random" in found[0]
        return
    text, where = marked(snippet)
    assert problems(text) == [f"{where}: {message}"]


def test_every_problem_is_reported_not_only_the_first() -> None:
    text = doc(
        "- {id: Q1, type: single, text: A, show_iff: x, options: [{code: 1, text: a}]}\n"
        "- {id: Q2, type: numeric, text: B, min: 5, max: 1}\n"
        "- {end: NOPE, if: 'true'}\n"
    )
    assert len(problems(text)) == 3


def test_broken_question_does_not_cascade() -> None:
    text = doc(
        "- {id: Q1, type: single, text: A, typo: 1, options: [{code: 1, text: a}]}\n"
        "- {info: i, text: '{Q1}', show_if: 'Q1 == 1'}\n"
    )
    assert problems(text) == ["10:35: single question: unknown key 'typo' (did you mean 'type'?)"]


@pytest.mark.parametrize(
    ("lists", "problem"),
    [
        ("lists: {li: []}\n", "9:13: list: the list is empty"),
        ("lists: [li]\n", "9:8: lists: expected a mapping, found a list"),
    ],
)
def test_broken_list_does_not_cascade(lists: str, problem: str) -> None:
    """A refused list is reported once, not again as 'unknown list' where it is used."""
    text = doc(
        "- {id: Q1, type: single, text: A, list: li}\n"
        "- loop: L\n  over: li\n  body: [{id: Q2, type: text, text: '{$label}'}]\n"
        "- {info: i, text: '{Q1}'}\n",
        lists,
    )
    assert problems(text) == [problem]


def test_huge_numeric_with_own_special_codes_is_accepted() -> None:
    flow = "- {id: N, type: numeric, text: A, min: 0, max: 1000000000000000, special: [DK], special_codes: {DK: -1}}\n"
    assert problems(doc(flow)) == []


def test_date_bound_from_a_text_or_a_date_is_accepted() -> None:
    """Only bounds that can never be a date are refused: an ISO date text bounds like a date."""
    flow = "- {id: T, type: text, text: A}\n- {id: Q1, type: date, text: A, min: T, max: 'today()'}\n"
    assert problems(doc(flow)) == []


def test_end_with_a_broken_condition_does_not_make_the_rest_unreachable() -> None:
    """Only the broken condition is reported, not 'the end ... has no condition' for what follows."""
    text = doc(
        "- {end: SO, if: 'B == 1'}\n"
        "- {id: B, type: text, text: b}\n"
        "- {end: SO, show_if: 'B and'}\n"
        "- {info: i, text: x}\n"
    )
    found = problems(text)
    assert [p.split(": ", 1)[0] for p in found] == ["10:18", "12:23"], found
    assert "B is not asked before this point" in found[0] and "never reached" not in " ".join(found)


def test_python_keywords_the_language_does_not_use_are_ids_but_not_names_in_expressions():
    """§2 allows `return` or `class` as ids; only an expression that names one cannot be read."""
    assert problems(doc("- {id: return, type: text, text: A}\n- {id: class, type: text, text: B}\n")) == []
    found = problems(doc("- {id: class, type: numeric, text: A, min: 0, max: 9}\n"
                         "- {id: Q2, type: text, text: B, show_if: 'class > 1'}\n"))
    assert any("'class' cannot be a name in an expression" in p for p in found), found
