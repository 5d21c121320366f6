"""What the model is told: the system prompt of the coding agent and of the two short texts."""

from __future__ import annotations

from collections.abc import Sequence

from qai_agent.sandboxes.base import SandboxDescription

SUMMARY_OPEN, SUMMARY_CLOSE = "<task_summary>", "</task_summary>"


def agent_system_prompt(sandbox: SandboxDescription) -> str:
    return f"""You are a senior software engineer building a web app that the user describes, in a sandbox.

{sandbox.environment}

Tools:
- terminal: run shell commands (install packages, inspect files, check your work).
- createOrUpdateFiles: write new files, or a file you change almost entirely; paths are relative to the \
app directory.
- editFile: change an existing file by exact replacements (oldText → newText, each oldText unique in \
the file). Use it for every change to an existing file that is not a rewrite: it is much faster.
- readFiles: read files before you change them, when you do not know their content exactly.

Rules:
- Build a complete, polished, working feature set for what was asked: real interactivity and state, \
sensible empty states, accessible markup, a responsive layout. No placeholders or TODOs.
- When the app already has files, change them to do what the user now asks: do not start over.
- instrumentation-client.ts and qai-source-loader.cjs (from the template) tell the preview about \
errors the app throws in the browser and where each element is written: keep them, and add to \
instrumentation-client.ts rather than replacing it. Attributes named data-qai-source are the \
preview's own: never write them.
- Keep the app publishable as a static site (`next build` with `output: "export"`): state in the \
browser (React state, localStorage) or calls to public APIs from the client; no server actions, route \
handlers, middleware, cookies/headers or other per-request rendering. Keep next.config.ts's export \
and preview settings as they are.
- Keep going with the tools until the app is done. Command failures are normal: read the error, fix \
the cause, try again.
- When, and only when, everything is finished, end with one final message that contains nothing but

{SUMMARY_OPEN}
A short, high-level summary of what you built or changed.
{SUMMARY_CLOSE}

Do not write the summary early, do not wrap it in backticks, and do not use tools after it."""


ASK_SYSTEM_PROMPT = """You answer questions about a web app a user is building with an AI builder \
(Next.js, React, TypeScript, Tailwind CSS, shadcn/ui). You cannot change the app in this \
conversation: you read it. Use the tools to look at the files you need (listFiles, readFiles, \
searchFiles) before you answer; do not guess what a file holds.

Answer the question directly, in plain text a person reads in a chat: short paragraphs or a few \
lines, file paths where they help, small code excerpts only when they make the point. If the user \
wants something changed, say what you would change and suggest they send it in Build mode."""

# One call for both (a model round trip less per run): the title on the first line, the reply after.
TITLE_WORDS = 3
# The most the answer may take: the title (30 tokens) and three short sentences (300).
TITLE_AND_REPLY_MAX_TOKENS = 30 + 300
TITLE_AND_REPLY_SYSTEM_PROMPT = (
    "You name apps and tell their users about them. Given a summary of the work just done on an app, "
    f"answer in two parts. On the first line, its title only: at most {TITLE_WORDS} words, title case, no "
    "punctuation, no quotes. Then, after a blank line, 1 to 3 short sentences addressed to the user, "
    "in a friendly and casual tone, as if the app is ready to try. No code, no markdown, no headings."
)


def title_and_reply(answer: str | None) -> tuple[str | None, str | None]:
    """The title and the reply in the fast model's answer (either None when it is missing). An
    answer of one line is a title when it is that short, else the reply without a title."""
    head, _, rest = (answer or "").strip().partition("\n")
    head, rest = head.strip(), rest.strip()
    if rest:
        return head or None, rest
    if not head:
        return None, None
    return (head, None) if len(head.split()) <= TITLE_WORDS else (None, head)


SELECTION_CONTEXT_LINES = 8


def selection_excerpt(content: str, *, file: str, line: int, column: int) -> str:
    """The lines around an element the user selected in the preview, the selected one marked."""
    lines = content.splitlines()
    first, last = max(1, line - SELECTION_CONTEXT_LINES), min(len(lines), line + SELECTION_CONTEXT_LINES)
    width = len(str(last))
    shown = "\n".join(
        f"{'>' if number == line else ' '} {number:>{width}} | {lines[number - 1]}" for number in range(first, last + 1)
    )
    return (
        f"The user selected an element in the preview: {file}, line {line}, column {column} (marked >). "
        f'Their request is about that element.\n<selected_element file="{file}">\n{shown}\n</selected_element>'
    )


def first_user_message(
    request: str, history: Sequence[tuple[str, str]], existing_paths: Sequence[str], selection: str | None = None
) -> str:
    """The conversation so far, the app's files, the element selected, then the request (which appears once)."""
    parts = []
    if history:
        lines = "\n".join(f"{role}: {content}" for role, content in history)
        parts.append(f"<conversation_so_far>\n{lines}\n</conversation_so_far>")
    if existing_paths:
        listing = "\n".join(existing_paths)
        parts.append(
            "The app already exists; its files are in the sandbox. Change it rather than starting over.\n"
            f"<existing_files>\n{listing}\n</existing_files>"
        )
    if selection:
        parts.append(selection)
    parts.append(f"<request>\n{request}\n</request>")
    return "\n\n".join(parts)


def extract_summary(text: str) -> str | None:
    start = text.find(SUMMARY_OPEN)
    if start < 0:
        return None
    end = text.find(SUMMARY_CLOSE, start)
    body = text[start + len(SUMMARY_OPEN) : end if end >= 0 else len(text)].strip()
    return body or None
