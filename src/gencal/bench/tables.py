"""A tiny table model rendered to Markdown, HTML and LaTeX (best cells in bold)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["Table"]


@dataclass
class Table:
    """``rows[i][j]`` is the text of a cell; ``bold`` holds the (row, column) pairs to embolden."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)
    note: str = ""

    def to_markdown(self) -> str:
        def cell(i: int, j: int) -> str:
            s = self.rows[i][j].replace("|", "\\|")
            return f"**{s}**" if (i, j) in self.bold and s else s

        lines = [f"### {self.title}", ""]
        if self.note:
            lines += [self.note, ""]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in self.columns) + " |")
        lines.append("|" + "|".join(["---"] * len(self.columns)) + "|")
        for i, row in enumerate(self.rows):
            lines.append("| " + " | ".join(cell(i, j) for j in range(len(row))) + " |")
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        out = [f"<h3>{html.escape(self.title)}</h3>"]
        if self.note:
            out.append(f"<p class='note'>{html.escape(self.note)}</p>")
        out.append("<div class='tw'><table><thead><tr>")
        out += [f"<th>{html.escape(c)}</th>" for c in self.columns]
        out.append("</tr></thead><tbody>")
        for i, row in enumerate(self.rows):
            out.append("<tr>")
            for j, c in enumerate(row):
                s = html.escape(c)
                out.append(f"<td><b>{s}</b></td>" if (i, j) in self.bold else f"<td>{s}</td>")
            out.append("</tr>")
        out.append("</tbody></table></div>")
        return "".join(out)

    def to_latex(self) -> str:
        def esc(s: str) -> str:
            for a, b in (
                ("\\", r"\textbackslash{}"),
                ("&", r"\&"),
                ("%", r"\%"),
                ("_", r"\_"),
                ("#", r"\#"),
                ("$", r"\$"),
                ("{", r"\{"),
                ("}", r"\}"),
                ("Δ", r"$\Delta$"),
                ("±", r"$\pm$"),
                ("≥", r"$\geq$"),
                ("×", r"$\times$"),
            ):
                s = s.replace(a, b)
            return s

        spec = "l" * min(2, len(self.columns)) + "r" * max(0, len(self.columns) - 2)
        lines = [
            "% " + self.title,
            r"\begin{table}[t]",
            r"\centering\small",
            r"\caption{" + esc(self.title) + "}",
            r"\begin{tabular}{" + spec + "}",
            r"\toprule",
            " & ".join(esc(c) for c in self.columns) + r" \\",
            r"\midrule",
        ]
        for i, row in enumerate(self.rows):
            cells = [
                (r"\textbf{" + esc(c) + "}") if (i, j) in self.bold and c else esc(c)
                for j, c in enumerate(row)
            ]
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
        return "\n".join(lines)
