"""The interactive session: read a message, run the turn it starts, and stay interruptible."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from coda import __version__
from coda.ui.keys import TurnKeys
from coda.ui.permission import TerminalPrompter
from coda.ui.screen import Screen
from coda.ui.status import StatusParts, combined_cost, context_share

if TYPE_CHECKING:
    from coda.permissions.base import Mode
    from coda.permissions.policy import DecisionRecord
    from coda.session import Session
    from coda.ui.input import InputPrompt
    from coda.ui.view import TerminalView
    from coda.usage import Totals
    from coda.wiring import RunOptions, Wired

# Everything the session needs (providers, tools, policy) is imported by wire(), in a thread
# started once the prompt is drawn: the person can type while it loads.

T = TypeVar("T")
MODE_CYCLE: tuple[Mode, ...] = ("default", "acceptEdits", "plan")


class Repl:
    def __init__(
        self,
        run: RunOptions | Callable[[], RunOptions],
        *,
        env: Mapping[str, str],
        cwd: Path,
        screen: Screen,
        stdin_fd: int | None,
    ) -> None:
        self._run_options = run
        self.env = env
        self.cwd = cwd
        self.screen = screen
        self.glyphs = screen.glyphs
        self._view: TerminalView | None = None
        self.prompter = TerminalPrompter(screen, self)
        self.past_totals: list[Totals] = []
        self.decisions: list[DecisionRecord] = []
        self.should_exit = False
        self._keys = TurnKeys(
            stdin_fd, on_interrupt=self.interrupt, on_show_thinking=self.show_thinking
        )
        self._task: asyncio.Future[Any] | None = None
        self._background: set[asyncio.Future[None]] = set()
        self._input: InputPrompt | None = None
        self._shown_notices = 0
        self._shown_session_notices = 0
        self._wired: Wired | None = None
        self._wiring: asyncio.Future[Wired] | None = None
        self._modes: tuple[Mode, ...] = MODE_CYCLE
        self.exit_code = 0
        self._announced = False
        self._mcp_asked = False

    # -- the session and its parts

    @property
    def run_options(self) -> RunOptions:
        if callable(self._run_options):
            self._run_options = self._run_options()
        return self._run_options

    @property
    def view(self) -> TerminalView:
        if self._view is None:
            from coda.ui.view import TerminalView

            self._view = TerminalView(self.screen, cwd=self.cwd)
        return self._view

    def show_thinking(self) -> None:
        if self._view is not None:
            self._view.show_thinking()
        else:
            self.screen.plain("(no thinking in this session yet)", "dim")

    def wire(self, run: RunOptions | None = None) -> Wired:
        """Build a session (ConfigurationError or SettingsError if it cannot be)."""
        from coda.wiring import wire_session

        return wire_session(
            self.run_options if run is None else run,
            env=self.env,
            cwd=self.cwd,
            observer=self.view,
            prompter=self.prompter,
            record=self.decisions.append,
            headless=False,
        )

    @property
    def has_session(self) -> bool:
        """Whether the session is built (it is built in a thread while the prompt is up)."""
        return self._wired is not None

    @property
    def wired(self) -> Wired:
        if self._wired is None:
            raise RuntimeError("the session is not built yet: await ready() first")
        return self._wired

    def _set_wired(self, wired: Wired) -> None:
        self._wired = wired
        bypass = wired.policy.config.mode == "bypassPermissions"
        self._modes = MODE_CYCLE + (("bypassPermissions",) if bypass else ())

    def start_wiring(self) -> asyncio.Future[Wired]:
        """Build the session in a thread: the prompt is up before the providers are loaded."""
        if self._wiring is None:
            self._wiring = asyncio.ensure_future(asyncio.to_thread(self.wire))
            self._wiring.add_done_callback(self._wiring_done)
        return self._wiring

    def _wiring_done(self, future: asyncio.Future[Wired]) -> None:
        if future.cancelled():
            return
        from prompt_toolkit.application import get_app_or_none, run_in_terminal

        app = get_app_or_none()
        running = app is not None and app.is_running
        if future.exception() is not None:
            if running and app is not None:
                app.exit(exception=EOFError())  # ready() reports the error
            return
        self._set_wired(future.result())
        self._start_mcp()
        if running and app is not None:
            run_in_terminal(self._announce)
            app.invalidate()
        # Otherwise ready() announces it, before the first turn.

    async def ready(self) -> bool:
        """Whether the session is built; if it cannot be, say why and end the session."""
        from coda.config import SettingsError
        from coda.providers.base import ConfigurationError

        if self._wired is not None:
            self._announce()
            return True
        try:
            self._set_wired(await self.start_wiring())
        except (ConfigurationError, SettingsError) as exc:
            self.screen.plain(f"coda: {exc}", "red")
            self.exit_code, self.should_exit = 2, True
            return False
        self._announce()
        return True

    @property
    def session(self) -> Session:
        return self.wired.session

    @property
    def model_id(self) -> str:
        return self.wired.setup.choice.model_id

    @property
    def mode(self) -> Mode:
        return self.wired.policy.config.mode

    def all_totals(self) -> list[Totals]:
        return [*self.past_totals, self.session.totals]

    async def close(self) -> None:
        if self._wiring is not None and not self._wiring.done():
            with contextlib.suppress(Exception):
                await self._wiring
        if self._wired is not None:
            from coda.wiring import release

            await release(self._wired)

    # -- the loop

    def _catch_sigint(self) -> None:
        # Ctrl+C in a turn interrupts it; at a prompt the terminal is raw and it is a key.
        # Installed again before every turn, in case a library took the signal meanwhile.
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self.interrupt)

    async def run(self, first_prompt: str | None) -> int:
        loop = asyncio.get_running_loop()
        self._catch_sigint()
        try:
            self._banner()
            await self._pick_session()
            if first_prompt and first_prompt.strip():
                self.screen.plain(f"{self.glyphs.prompt} {first_prompt}", "bold")
                await self.handle(first_prompt)
            while not self.should_exit:
                text = await self._read()
                if text is None:
                    if self._wired is None:
                        await self.ready()  # Ctrl+D while starting, or the start failed
                    break
                await self.handle(text)
        finally:
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.remove_signal_handler(signal.SIGINT)
            await self.close()
        return self.exit_code

    async def _pick_session(self) -> None:
        """`coda --resume` without an id: choose the session before it is built."""
        from coda.resume import ResumeRequest
        from coda.ui.session_commands import pick_session

        run = self.run_options
        if run.resume.pick:
            chosen = await pick_session(self)
            if chosen is None:
                self.screen.plain("Starting a new session.", "dim")
            resume = ResumeRequest(session_id=chosen, fork=run.resume.fork)
            self._run_options = replace(run, resume=resume)

    async def handle(self, text: str) -> None:
        stripped = text.strip()
        if not stripped or not await self.ready():
            return
        if not self._mcp_asked:
            from coda.ui.mcp_commands import approve_project_servers

            self._mcp_asked = True
            await approve_project_servers(self)
        if stripped.startswith("/") and not stripped.startswith("//"):
            from coda.ui.commands import run_command

            await run_command(self, stripped)
        elif stripped.startswith("!"):
            await self.shell(stripped[1:].strip())
        elif stripped.startswith("#") and not stripped.startswith("##"):
            self.note(stripped[1:].strip())
        else:
            await self.turn(text)
        self._show_notices()

    async def turn(self, text: str) -> None:
        from coda.ui.mentions import attach_mentions

        self._plan_tool_ready()
        attached = await attach_mentions(text, self.session.tool_ctx)
        if self.wired.mcp is not None:
            from coda.ui.mcp_commands import attach_mcp

            await attach_mcp(self, attached)
        for name in attached.files:
            self.screen.text(f"  {self.glyphs.result} attached {name}", "dim")
        for problem in attached.problems:
            self.screen.text(f"  {self.glyphs.error} {problem}", "red")
        result = await self.run_interruptibly(self.session.submit(attached.prompt, typed=text))
        if result is not None and result.subtype != "success":
            self.screen.text(f"{self.glyphs.error} {result.error or result.text}", "red")

    async def run_interruptibly(
        self, work: Awaitable[T], phase: str = "Waiting for the model", *, repair: bool = True
    ) -> T | None:
        """Run `work` as a task that Esc and Ctrl+C cancel; None if it was interrupted.

        After an interrupt of a turn (`repair`) the transcript is repaired so that the next
        request is valid; work outside the conversation (`!cmd`) leaves it alone.
        """
        self._catch_sigint()
        self.view.begin_turn(phase)
        task = asyncio.ensure_future(work)
        self._task = task
        self._keys.start()
        ticker = asyncio.create_task(self._tick())
        try:
            await asyncio.wait({task})
        finally:
            ticker.cancel()
            self._keys.stop()
            self._task = None
        from coda.ui.repair import repair_after_interrupt

        transcript = self.session.transcript
        if task.cancelled():
            if repair:
                transcript[:] = repair_after_interrupt(transcript)
                self.session.sync()
            self.view.interrupted(ask=repair)
            return None
        error = task.exception()
        self.view.end_turn()
        if error is not None:
            if repair:
                transcript[:] = repair_after_interrupt(transcript)
                self.session.sync()
            self._report_bug(error)
            return None
        result: T = task.result()
        return result

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self.view.tick()

    # -- TurnControl, for the permission prompter

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.screen.hide_live()
        try:
            with self._keys.paused():
                yield
        finally:
            self.screen.show_live()

    def interrupt(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()

    # -- input

    async def _read(self) -> str | None:
        if self._input is None:
            from coda.ui.input import InputPrompt

            self._input = InputPrompt(self)
        default, self._keys.typeahead = self._keys.typeahead, ""
        self.screen.blank()
        # The first prompt starts building the session once it is drawn.
        return await self._input.read(
            default, on_first_draw=self.start_wiring if self._wiring is None else None
        )

    def toolbar_parts(self) -> StatusParts | None:
        """What the status line shows, or None while the session is still being built."""
        if self._wired is None:
            return None
        info = self.wired.setup.choice.info
        window = info.context_window if info else None
        return StatusParts(
            model=self.model_id,
            mode=self.mode,
            share=context_share(self.session.transcript, window),
            cost=combined_cost(self.all_totals()),
        )

    def cycle_mode(self) -> Mode:
        modes = self._modes
        current = self.mode
        following = modes[(modes.index(current) + 1) % len(modes)] if current in modes else modes[0]
        self.wired.policy.config.mode = following
        return following

    # -- ! and #

    async def shell(self, command: str) -> None:
        from coda.ui.commands import run_shell

        await run_shell(self, command)

    def note(self, text: str) -> None:
        from coda.ui.commands import add_note

        add_note(self, text)

    # -- rebuilding the session

    def rebuild(self, model: str | None) -> None:
        """Build the session again (for another model, or to enter plan mode with its tool),
        keeping the conversation, the rules, the mode and the tools' state."""
        from coda.resume import ResumeRequest

        old = self.wired
        run = replace(
            self.run_options,
            model=model,
            permission_mode=old.policy.config.mode,
            resume=ResumeRequest(),
        )
        new = self.wire(run)
        new.session.adopt(old.session)
        self._swap(old, new, run)

    def switch_session(self, session_id: str) -> None:
        """Leave this conversation for an earlier one (/resume), keeping model and rules."""
        from coda.config import SettingsError
        from coda.providers.base import ConfigurationError
        from coda.resume import ResumeRequest

        old = self.wired
        run = replace(
            self.run_options,
            permission_mode=old.policy.config.mode,
            resume=ResumeRequest(session_id=session_id),
        )
        try:
            new = self.wire(run)
        except (ConfigurationError, SettingsError) as exc:
            self.screen.text(f"{self.glyphs.error} {exc}", "red")
            return
        old.session.sync()
        if old.session.log is not None:
            old.session.log.close()
        self._swap(old, new, run)
        self._show_notices()
        self.view.show_history(new.session.transcript)

    def new_conversation(self) -> None:
        self.session.start_over()

    def reload_memory(self) -> None:
        from coda.wiring import refresh_memory

        refresh_memory(self.wired, self.run_options, env=self.env, cwd=self.cwd)

    def prefill(self, text: str) -> None:
        """Put `text` in the input line the next prompt shows (a rewound prompt)."""
        self._keys.typeahead = text

    def _swap(self, old: Wired, new: Wired, run: RunOptions) -> None:
        from coda.resume import ResumeRequest
        from coda.wiring import carry_over, release

        carry_over(old, new)
        self.past_totals.append(old.session.totals)
        # The resume (or not) is done; a later rebuild must not read the transcript again.
        self._run_options = replace(run, resume=ResumeRequest())
        self._set_wired(new)
        self._shown_notices = 0
        self._shown_session_notices = 0

        task = asyncio.ensure_future(release(old))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _start_mcp(self) -> None:
        """User and local servers start as soon as the session is built, while the person
        types; project servers wait for their approval (before the first turn)."""
        if self._wired is not None and self._wired.mcp is not None:
            self._wired.mcp.start()

    def _plan_tool_ready(self) -> None:
        """Plan mode chosen with Shift+Tab needs ExitPlanMode, which wiring adds only for
        a session started in plan mode: rebuild once, with the same model."""
        if self.mode == "plan" and all(t.name != "ExitPlanMode" for t in self.wired.tools):
            self.rebuild(self.run_options.model)

    # -- messages to the person

    def _banner(self) -> None:
        g, screen = self.glyphs, self.screen
        screen.plain(f"coda {__version__} {g.dot} {self.cwd}", "bold")
        screen.plain(f"/help for commands {g.dot} esc interrupts {g.dot} ctrl+d exits", "dim")

    def _announce(self) -> None:
        """What the person should know once the session is built: warnings, unknown prices."""
        if self._announced:
            return
        self._announced = True
        memory = self.wired.memory
        if memory is not None and memory.files:
            names = ", ".join(_short(f.path, self.cwd) for f in memory.files)
            self.screen.plain(f"memory: {names}", "dim")
        if self.wired.setup.choice.info is None:
            self.screen.plain(
                f"model {self.model_id} is not in coda's catalog: its cost is unknown", "yellow"
            )
        self._show_notices(plain=True)
        if self.session.transcript:
            self.view.show_history(self.session.transcript)

    def _show_notices(self, *, plain: bool = False) -> None:
        show = self.screen.plain if plain else self.screen.text
        for note in self.wired.notices[self._shown_notices :]:
            show(f"coda: {note}", "yellow")
        self._shown_notices = len(self.wired.notices)
        for note in self.session.notices[self._shown_session_notices :]:
            show(f"coda: {note}", "yellow")
        self._shown_session_notices = len(self.session.notices)

    def _report_bug(self, error: BaseException) -> None:
        from coda.ui.crash import record_crash

        where = record_crash(self.env, error)
        self.screen.text(
            f"{self.glyphs.error} coda hit a bug and stopped this turn: "
            f"{type(error).__name__}: {error}{where}. The conversation is intact.",
            "red",
        )


def _short(path: Path, cwd: Path) -> str:
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        home = Path.home()
        return "~/" + str(path.relative_to(home)) if path.is_relative_to(home) else str(path)
