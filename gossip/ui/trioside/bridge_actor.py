"""The bridge actor: it carries out the user's intents (gossip.ui.intents) against the live
session (asks), guards them so that a slip in the UI cannot crash the session, and answers
each with a notice for the UI's queue. A refusal, ours or the session's (CommandRefused),
becomes a CommandFailed notice in words meant for the user."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from gossip.actors import Actor, ActorError, ChildSpec, Request, Supervisor
from gossip.client.commands import AcceptKey, EditChat, GetState, React, SendChat, VerifyKey
from gossip.client.errors import CommandRefused
from gossip.client.filesend import save_file, send_file
from gossip.client.messages import MAX_TEXT_CHARS, ChatMessage, check_ttl
from gossip.client.session import Session
from gossip.client.state import SessionState
from gossip.crypto import CryptoError, safety_number
from gossip.crypto.pins import Trust
from gossip.media.devicewatch import DeviceWatcher

from .. import intents
from .. import notices as nt
from ..pictures import is_picture_type
from ..settings import login_account, recall_password, remember_in_keyring
from ..thumbnails import PictureRefused, make_thumbnail
from ..videofeeds import VideoFeeds
from .callcontrol import CallControl, CallSetup, LiveSession
from .keeper import ASK_TIMEOUT, ConnectionKeeper

log = logging.getLogger("gossip.ui")
PREVIEWS_AT_ONCE = 2  # pictures fetched at the same time only to be shown inline


@dataclass(frozen=True)
class Shutdown(Request[None]):
    """From the bridge itself when the window closes: leave politely, then stop."""


class BridgeActor(Actor):
    inbox_size = 256

    def __init__(self, post: Callable[[nt.Notice], None], *,
                 call_setup: CallSetup | None = None, retry_base: float = 1.0,
                 video_feeds: VideoFeeds | None = None) -> None:
        self._post = post
        self._call_setup = call_setup or CallSetup()
        self._calls = CallControl(self._call_setup, self._live_session, post,
                                  video_feeds or VideoFeeds())
        self._keeper: ConnectionKeeper | None = None
        self._retry_base = retry_base
        # The files moving in the background, by file id: cancelling the scope stops one.
        self._transfers: dict[str, trio.CancelScope] = {}
        self._previews = trio.Semaphore(PREVIEWS_AT_ONCE)

    async def started(self) -> None:
        self.nursery.start_soon(self._calls.run)
        if self._call_setup.uses_devices:
            # Devices that come and go reach the pickers; a crash of the watcher is its
            # supervisor's to restart, not the bridge's to suffer.
            watcher = Supervisor([ChildSpec("devices",
                                            lambda: DeviceWatcher(self._calls.devices_changed))])
            await self.nursery.start(watcher.run)

    async def receive(self, message: object) -> object:
        try:
            await self._carry_out(message)
        except CommandRefused as exc:  # a sentence meant for the user (CallNotPossible too)
            self._post(nt.CommandFailed(_describe(message), str(exc)))
        except (ActorError, trio.TooSlowError, CryptoError) as exc:
            log.info("intent %r failed: %r", message, exc)
            self._post(nt.CommandFailed(_describe(message), _reason(exc)))
        return None

    async def _carry_out(self, message: object) -> None:
        match message:
            case intents.ConnectToHub():
                await self._connect(message)
            case intents.DisconnectFromHub():
                await self._disconnect()
                self._post(nt.Offline())
            case intents.RetryConnectionNow():
                if self._keeper is not None:
                    await self._keeper.retry_now()
            case Shutdown():
                await self._disconnect()
            case intents.SubmitMessage():
                self._post(nt.MessageSent(await self._send(message)))
            case intents.EditMessage(ref, text):
                self._post(nt.MessageSent(await self._ask_session(EditChat(ref, text))))
            case intents.ReactToMessage(ref, emoji):
                self._post(nt.MessageSent(await self._ask_session(React(ref, emoji))))
            case intents.AcceptChangedKey(user):
                await self._accept_key(user)
            case intents.MarkKeyVerified(user):
                await self._verify_key(user)
            case intents.ComputeSafetyNumber(user):
                await self._safety_number(user)
            case intents.AcceptHubKey(host, port, fingerprint):
                await self._accept_hub_key(host, port, fingerprint)
            case intents.UpdateKeyring(previous, settings):
                kept, refusal = await trio.to_thread.run_sync(remember_in_keyring, previous,
                                                              settings)
                self._post(nt.KeyringUpdated(kept, refusal))
            case intents.RecallPassword(settings):
                password, problem = await trio.to_thread.run_sync(recall_password, settings)
                self._post(nt.PasswordRecalled(login_account(settings), password, problem))
            case intents.AttachFile() | intents.SaveFile():
                # Minutes for a big file: in the background, so other intents go on. Started
                # (its scope known) before the next intent, so a Cancel right after finds it.
                await self.nursery.start(self._file_in_background, message)
            case intents.CancelTransfer(file_id):
                scope = self._transfers.get(file_id)
                if scope is not None:  # (else it ended meanwhile: nothing to stop)
                    scope.cancel()
            case intents.RefreshState():
                self._post(nt.StateRefreshed(await self._state(self._session())))
            case intents.JoinChannelCall() | intents.LeaveChannelCall() | intents.ChooseMuted() \
                    | intents.ChooseDeafened() | intents.ChoosePeerVolume() \
                    | intents.ChooseDevices() | intents.ChooseIceHosts() | intents.ChooseVideo() \
                    | intents.ChooseVideoSource() | intents.HoldTalkKey() \
                    | intents.ChooseVoice():
                self._post(nt.CallChanged(await self._calls.handle(message)))
            case _:
                raise CommandRefused(f"unknown intent {type(message).__name__}")

    # -- connection ---------------------------------------------------------------------------
    async def _connect(self, intent: intents.ConnectToHub) -> None:
        await self._disconnect()
        keeper = ConnectionKeeper(intent, self._post, retry_base=self._retry_base)
        self._keeper = keeper
        await self.nursery.start(keeper.run)

    async def _disconnect(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            # Hang up first, so the others see us leave the call rather than vanish from it.
            self._post(nt.CallChanged(await self._calls.end()))
            await keeper.leave()

    def _live_session(self) -> LiveSession | None:
        """The synced session, for the call side (None while connecting or offline)."""
        keeper = self._keeper
        session = keeper.online_session if keeper is not None else None
        if keeper is None or session is None:
            return None
        return LiveSession(session, keeper.connect.host, keeper.connect.user, keeper.connection)

    async def _accept_hub_key(self, host: str, port: int, fingerprint: str) -> None:
        keeper = self._keeper
        if keeper is None or keeper.profile is None:
            raise CommandRefused("Connect to the hub first.")
        connect = keeper.connect
        if (connect.host, connect.port) != (host, port):
            raise CommandRefused(f"You are no longer connecting to {host}:{port}. Connect to it "
                                 "again to see its certificate.")
        try:
            keeper.profile.known_hubs.accept(host, port, fingerprint)
        except ValueError as exc:  # not a fingerprint, or an address known_hubs cannot store
            raise CommandRefused(f"That certificate cannot be stored ({exc}). Connect again "
                                 "and trust it then.") from exc
        await self._connect(connect)

    def _session(self) -> Session:
        session = self._keeper.session if self._keeper is not None else None
        if session is None:
            raise CommandRefused("You are not connected to the hub. Connect, then try again.")
        return session

    async def _state(self, session: Session) -> SessionState:
        with trio.fail_after(ASK_TIMEOUT):
            return await session.ref.ask(GetState())

    # -- chat and keys ----------------------------------------------------------------------
    async def _send(self, intent: intents.SubmitMessage) -> ChatMessage:
        session = self._session()
        # Refused here first, in the words the app uses; the session refuses them too.
        if not intent.text.strip():
            raise CommandRefused("the message is empty")
        if len(intent.text) > MAX_TEXT_CHARS:
            raise CommandRefused(f"the message is longer than {MAX_TEXT_CHARS} characters")
        try:
            ttl = check_ttl(intent.ttl)
        except ValueError as exc:
            raise CommandRefused(str(exc)) from exc
        state = await self._state(session)
        if intent.channel not in state.channels:
            raise CommandRefused(f"there is no channel #{intent.channel} on this hub")
        with trio.fail_after(ASK_TIMEOUT):
            # A full offline outbox is refused (OutboxFull, a CommandRefused): the user sees
            # the send fail, and nothing is posted as sent.
            return await session.ref.ask(SendChat(intent.channel, intent.text, ttl,
                                                  reply_to=intent.reply_to))

    async def _ask_session(self, request: EditChat | React) -> ChatMessage:
        """An edit or a reaction: the session finds what it names and refuses what it may
        not do (CommandRefused, shown as the failure of the intent)."""
        with trio.fail_after(ASK_TIMEOUT):
            return await self._session().ref.ask(request)

    async def _file_in_background(
        self, intent: intents.AttachFile | intents.SaveFile,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """One transfer, cancellable by its file id. A cancelled upload leaves its chunks on
        the hub until the file's expiry (the wire has no frame to abandon one; it counts
        against our quota until then); a cancelled download deletes its partial file."""
        with trio.CancelScope() as scope:
            if intent.file_id:
                self._transfers[intent.file_id] = scope
            task_status.started()
            try:
                await self._move_file(intent)
            finally:
                if self._transfers.get(intent.file_id) is scope:
                    del self._transfers[intent.file_id]
        if intent.file_id:
            self._post(nt.TransferEnded(intent.file_id, scope.cancelled_caught))

    async def _move_file(self, intent: intents.AttachFile | intents.SaveFile) -> None:
        try:
            session = self._session()
            if isinstance(intent, intents.AttachFile):
                ttl = check_ttl(intent.ttl)
                sent = await send_file(session.ref, intent.path, channel=intent.channel,
                                       ttl=ttl, file_id=intent.file_id or None)
                self._post(nt.MessageSent(sent))
                await self._show_picture(sent, intent.path)  # ours: shown from the original
                return
            state = await self._state(session)
            message = next((m for m in state.messages if m.id == intent.message_id), None)
            if message is None or message.file is None:
                raise CommandRefused("that file message is gone (expired)")
            if intent.preview:
                await self._preview(session, message, intent.directory)
                return
            saved = await save_file(session.ref, message, intent.directory)
            self._post(nt.FileSaved(message.id, str(saved.path), saved.sha256))
            await self._show_picture(message, saved.path)
        except (CommandRefused, ValueError) as exc:  # FileTransferFailed is a CommandRefused
            self._file_failed(intent, str(exc))
        except OSError as exc:
            self._file_failed(intent, exc.strerror or str(exc))
        except (ActorError, trio.TooSlowError) as exc:
            log.info("intent %r failed: %r", intent, exc)
            self._file_failed(intent, _reason(exc))

    def _file_failed(self, intent: intents.AttachFile | intents.SaveFile, reason: str) -> None:
        """A transfer the user asked for failed: a toast. A picture fetched on its own only
        to be shown: a note under it, no alarm."""
        if isinstance(intent, intents.SaveFile) and intent.preview:
            self._post(nt.PictureRefused(intent.message_id, f"not shown: {reason}"))
        else:
            self._post(nt.CommandFailed(_describe(intent), reason))

    async def _preview(self, session: Session, message: ChatMessage, cache: Path) -> None:
        """A small picture fetched only to be shown: into the cache, made a thumbnail of,
        deleted. A few at a time, so a burst of pictures cannot flood the link or the CPU."""
        async with self._previews:
            saved = await save_file(session.ref, message, cache)
            try:
                await self._show_picture(message, saved.path)
            finally:
                saved.path.unlink(missing_ok=True)

    async def _show_picture(self, message: ChatMessage, path: Path) -> None:
        """A thumbnail of `path` if the message says it carries a picture (its content then
        has the last word), decoded on a worker thread."""
        if message.file is None or not is_picture_type(message.file.mime):
            return
        try:
            thumbnail = await trio.to_thread.run_sync(make_thumbnail, path)
        except PictureRefused as exc:
            self._post(nt.PictureRefused(message.id, str(exc)))
            return
        self._post(nt.PictureReady(message.id, thumbnail.width, thumbnail.height,
                                   thumbnail.rgba))

    def _pins_trust(self, user: str) -> Trust | None:
        keeper = self._keeper
        if keeper is None or keeper.profile is None:
            raise CommandRefused("You are not connected to the hub. Connect, then try again.")
        return keeper.profile.pins.trust_of(user)

    async def _accept_key(self, user: str) -> None:
        session = self._session()
        if self._pins_trust(user) is not Trust.CHANGED:
            raise CommandRefused(f"{user}'s key did not change: there is no new key to accept.")
        with trio.fail_after(ASK_TIMEOUT):
            trust = await session.ref.ask(AcceptKey(user))
        self._post(nt.TrustUpdated(user, trust))

    async def _verify_key(self, user: str) -> None:
        session = self._session()
        trust = self._pins_trust(user)
        if trust is None:
            raise CommandRefused(f"No key is known for {user} yet. Open their safety number "
                                 "again once they have been online.")
        if trust is Trust.CHANGED:
            raise CommandRefused(f"{user}'s key changed. Compare the safety number and accept "
                                 "the new key first.")
        with trio.fail_after(ASK_TIMEOUT):
            trust = await session.ref.ask(VerifyKey(user))
        self._post(nt.TrustUpdated(user, trust))

    async def _safety_number(self, user: str) -> None:
        session = self._session()
        keeper = self._keeper
        assert keeper is not None and keeper.profile is not None
        state = await self._state(session)
        member = next((m for m in state.members if m.user == user), None)
        fingerprint = member.fingerprint if member else keeper.profile.pins.pinned_fingerprint(
            user)
        if not fingerprint:
            raise CommandRefused(f"{user} is not online and no key is known for them. Try again "
                                 "once they are online.")
        trust = member.trust if member else (keeper.profile.pins.trust_of(user) or Trust.NEW)
        own = keeper.profile.identity
        # Thousands of hash rounds: off the trio thread's loop, as well as off the render thread.
        number = await trio.to_thread.run_sync(safety_number, own.user, own.fingerprint, user,
                                               fingerprint)
        self._post(nt.SafetyNumberReady(user, number, fingerprint, own.fingerprint, trust))


def _describe(intent: object) -> str:
    return {
        intents.ConnectToHub: "connect", intents.RetryConnectionNow: "retry now",
        intents.SubmitMessage: "send the message",
        intents.EditMessage: "edit the message", intents.ReactToMessage: "react",
        intents.AcceptChangedKey: "accept the key", intents.MarkKeyVerified: "verify the key",
        intents.ComputeSafetyNumber: "safety number",
        intents.AcceptHubKey: "accept the hub's key",
        intents.RefreshState: "refresh", intents.JoinChannelCall: "join the call",
        intents.LeaveChannelCall: "leave the call", intents.ChooseMuted: "change mute",
        intents.ChooseDeafened: "change deafen", intents.ChoosePeerVolume: "change the volume",
        intents.ChooseDevices: "switch audio devices",
        intents.ChooseIceHosts: "set the call addresses",
        intents.ChooseVideo: "switch the camera",
        intents.ChooseVideoSource: "change the video source",
        intents.UpdateKeyring: "remember the password",
        intents.RecallPassword: "read the remembered password",
        intents.AttachFile: "send the file", intents.SaveFile: "save the file",
        intents.CancelTransfer: "cancel the transfer",
        intents.HoldTalkKey: "push to talk",
        intents.ChooseVoice: "change the voice settings",
    }.get(type(intent), "do that")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, trio.TooSlowError):
        return "the session did not answer in time"
    cause = exc.__cause__ if isinstance(exc, ActorError) and exc.__cause__ else exc
    return str(cause) or type(cause).__name__
