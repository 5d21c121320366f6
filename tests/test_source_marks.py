"""The app template's qai-source-loader.cjs, run by Node in the prepared template: which JSX elements
it marks with where they are written, and what it leaves alone."""

from __future__ import annotations

import json
import subprocess

import pytest

from qai_local.sandbox.template_cache import TemplateCache

MARK = "data-qai-source"


def marked(template: TemplateCache, source: str, file: str = "app/page.tsx") -> str:
    script = (
        "const { markSources } = require('./qai-source-loader.cjs');"
        "let input = ''; process.stdin.on('data', (c) => (input += c));"
        "process.stdin.on('end', () => { const { source, file } = JSON.parse(input);"
        " process.stdout.write(markSources(source, file)); });"
    )
    done = subprocess.run(
        ["node", "-e", script],
        cwd=template.app_dir,
        input=json.dumps({"source": source, "file": file}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_each_element_is_marked_with_its_file_line_and_column(template: TemplateCache) -> None:
    source = (
        'export default function Home() {\n  return (\n    <main className="p-8">\n'
        "      <h1>Hi</h1>\n    </main>\n  );\n}\n"
    )
    assert marked(template, source) == source.replace(
        '<main className="p-8">', '<main data-qai-source={"app/page.tsx:3:5"} className="p-8">'
    ).replace("<h1>", '<h1 data-qai-source={"app/page.tsx:4:7"}>')


def test_the_lines_stay_where_they_were(template: TemplateCache) -> None:
    source = "const a = 1;\nexport const B = () => <div>\n  <p>{a}</p>\n</div>;\n"
    assert marked(template, source).count("\n") == source.count("\n")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Fragments take no props: left as they are, their children marked.
        ("const a = <><b>x</b></>;", 'const a = <><b data-qai-source={"app/page.tsx:1:13"}>x</b></>;'),
        (
            "const a = <React.Fragment key='k'><i /></React.Fragment>;",
            "const a = <React.Fragment key='k'><i data-qai-source={\"app/page.tsx:1:35\"} /></React.Fragment>;",
        ),
        (
            "const a = <Fragment><i /></Fragment>;",
            'const a = <Fragment><i data-qai-source={"app/page.tsx:1:21"} /></Fragment>;',
        ),
        # Components and member names: after the whole name and its type arguments.
        ("const a = <motion.div {...p} />;", 'const a = <motion.div data-qai-source={"app/page.tsx:1:11"} {...p} />;'),
        (
            "const a = <Select<string> value='v' />;",
            "const a = <Select<string> data-qai-source={\"app/page.tsx:1:11\"} value='v' />;",
        ),
        # An element that has a mark already keeps it.
        ("const a = <p data-qai-source='x' />;", "const a = <p data-qai-source='x' />;"),
        # What is not JSX is not touched.
        ('const less = 1 < 2; const s = "<p>";', 'const less = 1 < 2; const s = "<p>";'),
        # A file that does not parse is left for the compiler to report.
        ("const a = <p>;", "const a = <p>;"),
    ],
)
def test_what_is_marked_and_what_is_not(template: TemplateCache, source: str, expected: str) -> None:
    assert marked(template, source) == expected


def test_a_path_with_quotes_stays_one_string(template: TemplateCache) -> None:
    out = marked(template, "const a = <p />;", file='app/"odd"}.jsx')
    assert out == 'const a = <p data-qai-source={"app/\\"odd\\"}.jsx:1:11"} />;'


def test_only_the_preview_marks_elements() -> None:
    from qai.app_files import TEMPLATE_DIR

    config = (TEMPLATE_DIR / "next.config.ts").read_text()
    # The loader is set up only for the preview's dev server, and never for node_modules.
    assert 'process.env.QAI_PREVIEW === "1" && process.env.NODE_ENV !== "production"' in config
    assert '{ not: "foreign" }' in config and MARK not in (TEMPLATE_DIR / "app" / "page.tsx").read_text()
