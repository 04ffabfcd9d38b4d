"""The one reporter through which the command line prints: a progress bar while
a campaign runs, then a short summary. Progress goes to stderr, the summary to
stdout, so piping the summary keeps it clean."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from reports.model import CampaignReport, ExampleRecord

_STYLE = {"agree": "green", "discrepancy": "bold red", "oracle disagreement": "red",
          "code under test failed": "bold red", "ill-conditioned": "yellow"}


class ConsoleReporter:
    """Progress and summary for one campaign."""

    def __init__(self, quiet: bool = False) -> None:
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.quiet = quiet
        self._progress: Progress | None = None
        self._task = TaskID(0)
        self._failures = 0

    def start(self, total: int, what: str) -> ConsoleReporter:
        if not self.quiet:
            self.err.print(f"gradproof: checking {escape(what)} on {total} examples")
            self._progress = Progress(
                TextColumn("[progress.description]{task.description}"), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(), console=self.err,
                transient=True,
            )
            self._task = self._progress.add_task("examples", total=total)
        return self

    def __enter__(self) -> ConsoleReporter:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def example_done(self, record: ExampleRecord) -> None:
        """Advance the bar; print the first few failures as they happen."""
        if self._progress is not None:
            self._progress.advance(self._task)
        if record.failed and self._progress is not None:
            self._failures += 1
            if self._failures <= 3:
                self.err.print(f"[red]{escape(record.message)}[/red]")

    def summary(self, report: CampaignReport, written: list[str]) -> None:
        """The verdict, the counts, the first failures and where the files went."""
        counts = ", ".join(f"[{_STYLE.get(k, 'cyan')}]{v} {k}[/]"
                           for k, v in report.counts.items() if v)
        style = "green" if report.passed else "red"
        self.out.print(f"[bold {style}]{report.overall}[/]: {len(report.examples)} of "
                       f"{report.examples_requested} examples in "
                       f"{report.duration:.1f} s ({counts or 'none'})")
        for record in report.failures[:5]:
            self.out.print(f"  [red]{escape(record.message)}[/red]")
        if len(report.failures) > 5:
            self.out.print(f"  ... and {len(report.failures) - 5} more in the report")
        if report.smallest is not None:
            smallest = report.smallest
            self.out.print("smallest failing example: "
                           f"{escape(smallest.architecture)}, batch {smallest.batch}")
            # Its message starts with its label, which the line above already says.
            message = smallest.message.removeprefix(f"{smallest.label}: ")
            self.out.print(f"  {escape(message)}")
            self.out.print(f"  replay it with: {escape(smallest.details.reproducer)}"
                           if smallest.details else "")
        for path in written:
            self.out.print(f"wrote {escape(path)}")

    def error(self, message: str) -> None:
        """A one- or two-line error from the harness itself."""
        self.err.print(f"[bold red]gradproof: error:[/] {escape(message)}")
