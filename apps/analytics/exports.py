"""Analytics exports as files: CSV, JSON, XLSX and PDF, always as a download.

Memory stays flat however large the export: the concern details are read with a
server-side cursor in chunks of 2,000 rows (``selectors.concern_details_iter``). CSV and
JSON are produced chunk by chunk as the response is sent. XLSX is written by openpyxl in
write-only mode to a temporary file, and PDF by ReportLab to a temporary file, and the file
is then streamed in blocks. Under ASGI (Daphne) the chunks are handed over through an
async iterator, because Django would otherwise read a synchronous iterator into memory
before sending any of it.

A PDF lists at most ``PDF_DETAIL_LIMIT`` concerns (a printed table of a million rows helps
nobody); it says so and points at the CSV. XLSX holds at most ``XLSX_MAX_ROWS`` detail rows,
the limit of a worksheet.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse

from apps.analytics import selectors
from apps.analytics.definitions import Period

PDF_DETAIL_LIMIT = 1000
XLSX_MAX_ROWS = 1_048_575  # a worksheet's rows less the header
FILE_BLOCK = 64 * 1024

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def summary_rows(*, dashboard: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """The dashboard figures as (section, name, value) rows."""
    rows: list[tuple[str, str, Any]] = [
        ("period", "start_date", dashboard["period"]["start_date"]),
        ("period", "end_date", dashboard["period"]["end_date"]),
    ]
    for section in ("summary", "concerns", "sentiment"):
        for name, value in dashboard.get(section, {}).items():
            rows.append((section, name, value))
    if "conversations" in dashboard:
        rows.append(("conversations", "total", dashboard["conversations"]["total"]))
        rows.append(("conversations", "trend", dashboard["conversations"]["trend"]))
    return rows


# --- CSV and JSON: generated while sending -------------------------------------------------


def csv_chunks(*, period: Period, metrics: tuple[str, ...], include_details: bool) -> Iterator[bytes]:
    """Three sections separated by a blank line: summary (section,name,value), the daily
    table, and with details every concern of the period."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> bytes:
        data = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        return data

    writer.writerow(["section", "name", "value"])
    writer.writerows(summary_rows(dashboard=selectors.dashboard_get(period=period, metrics=metrics)))
    writer.writerow([])
    header, rows = selectors.daily_rows(period=period, metrics=metrics)
    writer.writerow(header)
    writer.writerows(rows)
    yield flush()
    if include_details:
        writer.writerow([])
        writer.writerow(selectors.DETAIL_COLUMNS)
        yield flush()
        for chunk in selectors.concern_details_iter(period=period):
            writer.writerows([[_iso(value) for value in row] for row in chunk])
            yield flush()


def json_chunks(*, period: Period, metrics: tuple[str, ...], include_details: bool) -> Iterator[bytes]:
    """``{"period", "dashboard", "daily": {"columns", "rows"}, "concerns": [...]}``."""
    dashboard = selectors.dashboard_get(period=period, metrics=metrics)
    header, rows = selectors.daily_rows(period=period, metrics=metrics)
    head = {
        "generated_at": _iso(datetime.now(UTC)),
        "period": dashboard["period"],
        "dashboard": {key: value for key, value in dashboard.items() if key != "period"},
        "daily": {"columns": header, "rows": rows},
    }
    opening = json.dumps(head)[:-1]
    if not include_details:
        yield (opening + "}").encode()
        return
    yield (opening + ', "concerns": [').encode()
    first = True
    columns = selectors.DETAIL_COLUMNS
    for chunk in selectors.concern_details_iter(period=period):
        parts = [json.dumps(dict(zip(columns, (_iso(v) for v in row), strict=True))) for row in chunk]
        text = ",".join(parts)
        yield (text if first else "," + text).encode()
        first = False
    yield b"]}"


# --- XLSX and PDF: written to a temporary file, then streamed ------------------------------


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def xlsx_file(*, period: Period, metrics: tuple[str, ...], include_details: bool) -> IO[bytes]:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    summary = workbook.create_sheet("Summary")
    summary.append(["section", "name", "value"])
    for row in summary_rows(dashboard=selectors.dashboard_get(period=period, metrics=metrics)):
        summary.append(list(row))
    daily = workbook.create_sheet("Daily")
    header, rows = selectors.daily_rows(period=period, metrics=metrics)
    daily.append(header)
    for row in rows:
        daily.append(row)
    if include_details:
        details = workbook.create_sheet("Concerns")
        details.append(
            [
                f"{name} (UTC)" if name in {"submitted_at", "estimated_resolution", "resolved_at"} else name
                for name in selectors.DETAIL_COLUMNS
            ]
        )
        written = 0
        for chunk in selectors.concern_details_iter(period=period):
            for row in chunk:
                if written >= XLSX_MAX_ROWS:
                    break
                details.append([_naive_utc(value) for value in row])
                written += 1
    output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the response)
    workbook.save(output)
    output.seek(0)
    return output


def daily_chart(*, header: list[str], rows: list[list[Any]]) -> Any:
    """A ReportLab line chart of conversations and concerns per day."""
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.charts.linecharts import HorizontalLineChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    wanted = [name for name in ("conversations", "concerns_submitted") if name in header]
    drawing = Drawing(500, 230)
    drawing.add(String(250, 215, "Per day", textAnchor="middle", fontSize=11))
    chart = HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 45, 45, 430, 150
    series = [[row[header.index(name)] for row in rows] for name in wanted] or [[0 for _ in rows]]
    chart.data = series
    step = max(1, len(rows) // 8)
    chart.categoryAxis.categoryNames = [row[0][5:] if index % step == 0 else "" for index, row in enumerate(rows)]
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.angle = 30
    chart.categoryAxis.labels.boxAnchor = "ne"
    chart.valueAxis.valueMin = 0
    peak = max((max(values) for values in series if values), default=0)
    chart.valueAxis.valueMax = max(1, peak)
    chart.valueAxis.labels.fontSize = 7
    palette = [colors.HexColor("#0b5cad"), colors.HexColor("#bf8700")]
    for index in range(len(series)):
        chart.lines[index].strokeColor = palette[index % 2]
        chart.lines[index].strokeWidth = 1.5
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = 60, 210
    legend.fontSize = 8
    legend.alignment = "right"
    legend.colorNamePairs = [(palette[i % 2], name.replace("_", " ")) for i, name in enumerate(wanted)]
    drawing.add(legend)
    return drawing


def pdf_file(*, period: Period, metrics: tuple[str, ...], include_details: bool) -> IO[bytes]:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    table_style = TableStyle(
        [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef6")),
            ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
            ("FONTSIZE", (0, 0), (-1, -1), 7.5),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#999999")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    dashboard = selectors.dashboard_get(period=period, metrics=metrics)
    header, rows = selectors.daily_rows(period=period, metrics=metrics)
    story: list[Any] = [
        Paragraph("CitizenAI analytics", styles["Title"]),
        Paragraph(f"{period.start.isoformat()} to {period.end.isoformat()} ({period.days} days)", styles["Normal"]),
        Spacer(1, 8),
        Paragraph("Summary", styles["Heading2"]),
    ]
    summary = [["Section", "Metric", "Value"]] + [
        [section, name.replace("_", " "), "n/a" if value is None else str(value)]
        for section, name, value in summary_rows(dashboard=dashboard)
    ]
    story += [Table(summary, style=table_style, hAlign="LEFT"), Spacer(1, 10), daily_chart(header=header, rows=rows)]
    story += [Paragraph("Daily figures", styles["Heading2"])]
    story.append(Table([[name.replace("_", " ") for name in header], *rows], style=table_style, repeatRows=1))
    if include_details:
        total = selectors.concern_count(period=period)
        story += [Paragraph("Concerns", styles["Heading2"])]
        if total > PDF_DETAIL_LIMIT:
            story.append(
                Paragraph(
                    f"The first {PDF_DETAIL_LIMIT} of {total} concerns; export CSV, JSON or XLSX for all of them.",
                    styles["Normal"],
                )
            )
        detail_header = ["Tracking number", "Submitted (UTC)", "Category", "Priority", "Status", "Title"]
        detail_rows: list[list[str]] = []
        for chunk in selectors.concern_details_iter(period=period, chunk_size=PDF_DETAIL_LIMIT):
            for row in chunk[: PDF_DETAIL_LIMIT - len(detail_rows)]:
                submitted = row[2].astimezone(UTC).strftime("%Y-%m-%d %H:%M")
                detail_rows.append([row[1], submitted, row[3], row[4], row[5], str(row[8])[:60]])
            if len(detail_rows) >= PDF_DETAIL_LIMIT:
                break
        story.append(Table([detail_header, *detail_rows], style=table_style, repeatRows=1))
    output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the response)
    document = SimpleDocTemplate(output, pagesize=A4, title="CitizenAI analytics", author="CitizenAI")
    document.build(story)
    output.seek(0)
    return output


def file_chunks(*, handle: IO[bytes]) -> Iterator[bytes]:
    try:
        while block := handle.read(FILE_BLOCK):
            yield block
    finally:
        handle.close()


# --- the response ----------------------------------------------------------------------------


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Hands a synchronous iterator (which may read the database) to an ASGI server one
    chunk at a time, on the request's database thread."""
    done = object()
    step = sync_to_async(lambda: next(chunks, done), thread_sensitive=True)
    close = getattr(chunks, "close", None)
    try:
        while (chunk := await step()) is not done:
            yield chunk  # type: ignore[misc]
    finally:
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def export_response(
    *, fmt: str, period: Period, metrics: tuple[str, ...], include_details: bool, asgi: bool
) -> StreamingHttpResponse:
    """The export as a streamed download."""
    options = {"period": period, "metrics": metrics, "include_details": include_details}
    chunks: Iterator[bytes]
    if fmt == "csv":
        chunks = csv_chunks(**options)
    elif fmt == "json":
        chunks = json_chunks(**options)
    elif fmt == "xlsx":
        chunks = file_chunks(handle=xlsx_file(**options))
    else:
        chunks = file_chunks(handle=pdf_file(**options))
    content: Any = _async_chunks(chunks) if asgi else chunks
    response = StreamingHttpResponse(content, content_type=CONTENT_TYPES[fmt])
    filename = f"citizenai-analytics-{period.start.isoformat()}-to-{period.end.isoformat()}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
