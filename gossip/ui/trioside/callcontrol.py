"""The call panel's controls carried out (CallControl, the live CallPort): joins a channel's
call through the session, then steers the call actor it gets back (mute, deafen, volumes,
devices, camera, hang up), publishes the call's state (roster, links, levels) to the UI a few
times a second, and hands the UI's video feeds the call's picture holders.

Runs on the bridge's trio thread, driven by the bridge actor; the session's call events reach
the UI on their own path (the keeper forwards them) and this fills in what events do not carry.
A refusal from the session or the call (CommandRefused) reaches the user as CommandFailed.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import trio

from gossip.actors import ActorError, ActorFailed, ActorRef, ActorStopped, Request
from gossip.client.calltypes import (
    CallOptions,
    CallState,
    GetCallState,
    GetVideoFrames,
    LeaveCall,
    SetDeafened,
    SetMuted,
    SetTalkKey,
    SetTransmit,
    SetVideo,
    SetVolume,
)
from gossip.client.commands import JoinCall
from gossip.client.errors import CommandRefused
from gossip.client.session import Session
from gossip.fsm import ClientCallPhase
from gossip.media.defaults import DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH
from gossip.media.devicelist import DeviceList
from gossip.media.devices import knows_device, refresh_portaudio
from gossip.media.errors import MediaError
from gossip.media.icehosts import check_hosts
from gossip.media.mixer import MAX_VOLUME
from gossip.media.sinks import AudioSink, NullSink, parse_sink
from gossip.media.sources import AudioSource, NullSource, parse_source
from gossip.media.videospec import parse_video_source
from gossip.media.voicespec import VoiceOptions

from .. import intents
from .. import notices as nt
from ..callview import SILENCE_DBFS, CallNotPossible, CallPeer, CallPhase, CallView
from ..videofeeds import VideoFeeds
from ..wording import audio_device_failure, camera_failure
from .callaudio import (
    SwitchableSink,
    SwitchableSource,
    device_problem_text,
    microphone_spec,
    speaker_spec,
)
from .callvideo import SwitchableVideo

log = logging.getLogger("gossip.ui.calls")

LEVEL_INTERVAL = 0.2  # seconds between state polls: meters move, the call actor barely notices
ASK_TIMEOUT = 10.0
# Meters rise at once and fall at this rate, as a VU meter does: the mixer's level covers only
# the last 100 ms, which read five times a second would flicker between speech and silence.
METER_RELEASE_DB_PER_S = 60.0

SourceSpec = str | Callable[[], AudioSource]


@dataclass(frozen=True)
class CallSetup:
    """Where the app's calls get their sound and which addresses they offer."""

    source: SourceSpec | None = None  # None: the microphone picked in the panel
    sink: str | None = None  # None: the speakers picked in the panel
    audio_note: str = ""  # with a fixed source and sink: what to say in place of devices
    input_device: str = ""  # "" = the system default
    output_device: str = ""
    ice_hosts: tuple[str, ...] = ()  # () = see `call_ice_hosts`
    autojoin: str | None = None  # demo mode: join this channel's call once online
    level_interval: float = LEVEL_INTERVAL
    # What the camera button turns on (a video spec: camera[:DEV], screen, pattern,
    # file:PATH); "none" = no video to send, the button is off. See videosetting.video_spec.
    video: str = "none"
    video_on: bool = False  # send video from the start of each call (demo mode does)
    video_width: int = DEFAULT_WIDTH
    video_height: int = DEFAULT_HEIGHT
    video_fps: float = DEFAULT_FPS
    voice: VoiceOptions = VoiceOptions()  # processing stages and transmit mode

    @property
    def uses_devices(self) -> bool:
        return self.source is None or self.sink is None


@dataclass(frozen=True)
class LiveSession:
    session: Session
    host: str  # the hub's, as the user typed it
    user: str
    connection: int = 0  # which time the session came online (a reconnect counts up)


def call_ice_hosts(configured: tuple[str, ...], hub_host: str) -> tuple[str, ...]:
    """The ICE host addresses a call offers: the configured ones if any; for a hub on loopback
    only loopback (everyone reaching that hub is on this machine, and nothing should leave it);
    otherwise () = every interface address, aiortc's default."""
    if configured:
        return configured
    if hub_host == "localhost":
        return ("127.0.0.1",)
    try:
        address = ipaddress.ip_address(hub_host)
    except ValueError:
        return ()
    if address.is_loopback:
        return ("::1",) if address.version == 6 else ("127.0.0.1",)
    return ()


def meter(previous: float, level: float, elapsed: float,
          release: float = METER_RELEASE_DB_PER_S) -> float:
    """What a meter shows for `level` now, having shown `previous` `elapsed` seconds ago."""
    return max(level, previous - release * elapsed)


def participants(state: CallState, me: str) -> tuple[CallPeer, ...]:
    """Everyone else on the call's roster, with what their link and mixer say."""
    peers = []
    for user in sorted(set(state.members) - {me}):
        peer = state.peers.get(user)
        if peer is None or peer.link == "left":
            peers.append(CallPeer(user, trust=peer.trust if peer is not None else None))
            continue
        # Heard through the relay counts as connected: the relay's hop was checked against
        # the fingerprint the hub named, and their frames open only with their own key.
        linked = (peer.link == "connected" and peer.link_authenticated) \
            or peer.link == "relayed"
        peers.append(CallPeer(user, level_dbfs=peer.level_dbfs, volume=peer.volume,
                              connected=linked, failed=peer.gave_up, trust=peer.trust,
                              speaking=peer.speaking,
                              undecryptable=peer.frame_keys == "failing",
                              muted=peer.muted is True, camera_off=peer.camera_on is False))
    return tuple(peers)


# The call machine's phase as the call panel shows it (left and refused show as joining
# until the call side has taken the call down).
_PHASES = {ClientCallPhase.IDLE: CallPhase.JOINING, ClientCallPhase.JOINING: CallPhase.JOINING,
           ClientCallPhase.IN_CALL: CallPhase.IN_CALL, ClientCallPhase.LEAVING: CallPhase.LEAVING}


@dataclass
class _Lost:
    """A device the call gave up when it went away, taken back when it comes back: once a
    listing has gone without it and a later one has it again (a device listed but broken
    is not retried)."""

    device: str
    gone: bool = False


@dataclass
class _Call:
    """The call we are in: the actor's ref and the audio ends we gave it."""

    ref: ActorRef
    channel: str
    user: str
    source: SwitchableSource
    sink: SwitchableSink
    state: CallState | None = None
    leaving: bool = False
    connection: int = 0  # LiveSession.connection when we joined
    sends_video: bool = False  # joined with a video source (the camera switch works)
    video: SwitchableVideo | None = None
    lost_input: _Lost | None = None
    lost_output: _Lost | None = None


class CallControl:
    """CallPort over the live session. One call at a time, as the panel offers.

    `run` (in the bridge actor's nursery) polls the call's state at
    `level_interval` and posts CallChanged; `handle` carries out the panel's intents. A lock
    keeps the two from interleaving halfway through a change.
    """

    def __init__(self, setup: CallSetup, live: Callable[[], LiveSession | None],
                 post: Callable[[nt.Notice], None], feeds: VideoFeeds | None = None) -> None:
        self._setup = setup
        self.feeds = feeds or VideoFeeds()
        self._video_on = setup.video_on and setup.video != "none"
        self._live = live
        self._post = post
        self._lock = trio.Lock()
        self._call: _Call | None = None
        self._devices = DeviceList()
        self._input_device = setup.input_device
        self._talk_key_held = False
        self._voice = setup.voice
        self._output_device = setup.output_device
        self._ice_hosts = setup.ice_hosts
        self._muted = False
        self._deafened = False
        self._volumes: dict[str, float] = {}
        self._own_level = SILENCE_DBFS
        self._meters: dict[str, float] = {}
        self._autojoin = setup.autojoin
        self._call_started = trio.Event()

    # -- the poll -----------------------------------------------------------------------------
    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        self._post(nt.CallChanged(self.view()))
        while True:
            if self._call is None and self._autojoin is None:
                await self._call_started.wait()  # nothing to poll until a join
            await trio.sleep(self._setup.level_interval)
            async with self._lock:
                await self._tick()

    def devices_changed(self, devices: DeviceList) -> None:
        """The DeviceWatcher's news (a device came or went): the pickers offer what is there."""
        self._devices = devices
        call = self._call
        if call is not None:
            for lost, listed in ((call.lost_input, devices.inputs),
                                 (call.lost_output, devices.outputs)):
                if lost is not None and lost.device not in listed:
                    lost.gone = True
        self._post(nt.CallChanged(self.view()))

    async def _tick(self) -> None:
        call = self._call
        if call is None:
            await self._maybe_autojoin()
            return
        try:
            with trio.fail_after(ASK_TIMEOUT):
                state: CallState = await call.ref.ask(GetCallState())
        except ActorStopped:
            self._forget(call)
            live = self._live()
            if not call.leaving and (live is None or live.connection != call.connection):
                # The call went with the connection, not by the user's choice: back into it
                # once the session is online again (the poll's autojoin does it). The poll
                # may notice only after the session is back, so the connection is compared.
                log.info("call in %s lost with the connection; rejoining when back",
                         call.channel)
                self._autojoin = call.channel
            return
        except (ActorFailed, CommandRefused, trio.TooSlowError) as exc:
            self._forget(call)
            self._post(nt.CommandFailed("stay in the call", _cause(exc)))
            return
        # The call replaced an unplugged device with the default: the panel says so, and
        # picking the device again (plugged back in) switches back to it.
        if call.source.fell_back and self._setup.source is None and self._input_device:
            call.lost_input, self._input_device = _Lost(self._input_device), ""
        if call.sink.fell_back and self._setup.sink is None and self._output_device:
            call.lost_output, self._output_device = _Lost(self._output_device), ""
        await self._take_back(call)
        elapsed = self._setup.level_interval
        call.state = replace(state, peers={
            user: replace(peer, level_dbfs=self._meter(user, peer.level_dbfs, elapsed))
            for user, peer in state.peers.items()})
        self._own_level = meter(self._own_level, call.source.take_level(), elapsed)
        await self._keep_volumes(call, state)
        await self._refresh_video(call)
        self._post(nt.CallChanged(self.view()))

    async def _take_back(self, call: _Call) -> None:
        """Back to a device the call lost, now that it is plugged in again (tried once)."""
        def back(lost: _Lost | None, listed: tuple[str, ...]) -> str | None:
            return lost.device if lost is not None and lost.gone and lost.device in listed \
                else None

        input_back = back(call.lost_input, self._devices.inputs)
        output_back = back(call.lost_output, self._devices.outputs)
        if input_back is None and output_back is None:
            return
        if input_back is not None:
            call.lost_input = None
        if output_back is not None:
            call.lost_output = None
        try:
            await self._select_devices(input_back if input_back is not None
                                       else self._input_device,
                                       output_back if output_back is not None
                                       else self._output_device)
        except CallNotPossible as exc:
            log.info("could not go back to a device plugged in again: %s", exc)

    async def _refresh_video(self, call: _Call) -> None:
        """Hand the UI the call's picture holders. The same objects stay for a peer's whole
        stay, so this changes the feeds only when someone came or went."""
        try:
            with trio.fail_after(ASK_TIMEOUT):
                frames = await call.ref.ask(GetVideoFrames())
        except (ActorError, CommandRefused, trio.TooSlowError):
            return  # the call is ending; the next poll finds out
        if self._call is call:
            self.feeds.show(call.user, frames.self_view, frames.peers)

    async def _keep_volumes(self, call: _Call, state: CallState) -> None:
        """The mixer forgets a peer's volume when their link goes; the user's choice stays."""
        for user, peer in state.peers.items():
            wanted = self._volumes.get(user)
            if wanted is not None and peer.link != "left" and abs(peer.volume - wanted) > 1e-6:
                try:
                    await call.ref.ask(SetVolume(user, wanted))
                except (ActorError, CommandRefused):
                    return  # the call is ending (or will not take it); the next poll retries

    async def _maybe_autojoin(self) -> None:
        channel = self._autojoin
        if channel is None or self._live() is None:
            return
        self._autojoin = None
        try:
            await self._join(channel)
        except (CommandRefused, ActorError, trio.TooSlowError) as exc:  # CallNotPossible too
            self._post(nt.CommandFailed("join the call", _cause(exc)))
        self._post(nt.CallChanged(self.view()))

    def _meter(self, user: str, level: float, elapsed: float) -> float:
        shown = self._meters[user] = meter(self._meters.get(user, level), level, elapsed)
        return shown

    def _forget(self, call: _Call) -> None:
        """The call actor is gone (we left, the hub refused, the session ended)."""
        if self._call is call:
            self._call = None
            self._own_level = SILENCE_DBFS
            self._meters.clear()
            self.feeds.clear()
            self._post(nt.CallChanged(self.view()))

    # -- the panel's intents --------------------------------------------------------------------
    async def handle(self, intent: intents.CallIntent) -> CallView:
        async with self._lock:
            match intent:
                case intents.JoinChannelCall(channel):
                    await self._join(channel)
                case intents.LeaveChannelCall():
                    await self._leave()
                case intents.ChooseMuted(muted):
                    self._muted = muted
                    await self._tell_call(SetMuted(muted))
                case intents.ChooseVoice(voice):
                    self._voice = voice
                    await self._tell_call(SetTransmit(voice.transmit))
                case intents.HoldTalkKey(held):
                    self._talk_key_held = held
                    await self._tell_call(SetTalkKey(held))
                case intents.ChooseDeafened(deafened):
                    self._deafened = deafened
                    await self._tell_call(SetDeafened(deafened))
                case intents.ChoosePeerVolume(user, volume):
                    if not 0.0 <= volume <= MAX_VOLUME:
                        raise CallNotPossible(f"Pick a volume between 0 and {MAX_VOLUME:g}.")
                    self._volumes[user] = volume
                    await self._tell_call(SetVolume(user, volume))
                case intents.ChooseDevices(input_device, output_device):
                    if self._call is not None:  # the user's pick wins over a device back
                        self._call.lost_input = self._call.lost_output = None
                    await self._select_devices(input_device, output_device)
                case intents.ChooseVideo(enabled):
                    await self._set_video(enabled)
                case intents.ChooseVideoSource(spec):
                    await self._set_video_source(spec)
                case intents.ChooseIceHosts(hosts):
                    try:
                        self._ice_hosts = check_hosts(hosts)
                    except ValueError as exc:
                        raise CallNotPossible(str(exc)) from None
            return self.view()

    async def end(self) -> CallView:
        """Hang up (without waiting for the hub to confirm) before the session goes away."""
        async with self._lock:
            call, self._call = self._call, None
            if call is not None and not call.leaving:
                with trio.move_on_after(ASK_TIMEOUT / 2):
                    try:
                        await call.ref.ask(LeaveCall())
                    except (ActorError, CommandRefused):
                        pass  # going anyway: the session ends the call with it
            self._own_level = SILENCE_DBFS
            self._meters.clear()
            self.feeds.clear()
            return self.view()

    async def _set_video(self, enabled: bool) -> None:
        if enabled and self._setup.video == "none":
            raise CallNotPossible("There is no camera to turn on. Pick a video source in "
                                  "Settings.")
        call = self._call
        if enabled and call is not None and not call.leaving and not call.sends_video:
            raise CallNotPossible("The camera could not be opened when you joined. Leave the "
                                  "call and join again to try once more.")
        self._video_on = enabled
        await self._tell_call(SetVideo(enabled))

    async def _set_video_source(self, spec: str) -> None:
        """Send video from `spec` from now on: in the call at once (when it sends video),
        else from the next call. "none" turns the camera off."""
        if spec == self._setup.video:
            return
        self._setup = replace(self._setup, video=spec)
        call = self._call
        if spec == "none":
            if self._video_on:
                self._video_on = False
                await self._tell_call(SetVideo(False))
            return
        if call is None or call.leaving or call.video is None:
            return  # the next call opens it (a call joined without video cannot add it)
        video, setup = call.video, self._setup
        try:
            fresh = await trio.to_thread.run_sync(lambda: parse_video_source(
                spec, width=video.width, height=video.height, fps=setup.video_fps))
        except (MediaError, ValueError) as exc:
            log.warning("cannot open the video source %r: %s", spec, exc)
            raise CallNotPossible(camera_failure("The source you had stays in use.")) from None
        await trio.to_thread.run_sync(lambda: video.swap(fresh).close())

    async def _tell_call(self, message: Request[None]) -> None:
        call = self._call
        if call is None or call.leaving:
            return  # a preference for the next call
        with trio.fail_after(ASK_TIMEOUT):
            try:
                await call.ref.ask(message)
            except ActorStopped:
                self._forget(call)

    async def _join(self, channel: str) -> None:
        if self._call is not None:
            raise CallNotPossible("Still leaving the last call. Try again in a moment."
                                  if self._call.leaving else
                                  f"You are already in the call in #{self._call.channel}. "
                                  "Leave it first.")
        live = self._live()
        if live is None:
            raise CallNotPossible("You are not connected to the hub. Connect, then join the "
                                  "call.")
        source, sink = await self._open_audio()
        video = await self._open_video()
        setup = self._setup
        options = CallOptions(source=source, sink=sink,
                              ice_hosts=call_ice_hosts(self._ice_hosts, live.host),
                              muted=self._muted, video=video or "none",
                              video_width=setup.video_width, video_height=setup.video_height,
                              video_fps=setup.video_fps, video_enabled=self._video_on,
                              voice=self._voice)
        try:
            with trio.fail_after(ASK_TIMEOUT):
                ref = await live.session.ref.ask(JoinCall(channel, options))
        except BaseException:
            # Closing twice is harmless, in case the call actor started and closed them.
            source.close()
            sink.close()
            if video is not None:
                video.close()
            raise
        assert isinstance(ref, ActorRef)
        call = self._call = _Call(ref, channel, live.user, source, sink,
                                  connection=live.connection, sends_video=video is not None,
                                  video=video)
        self._call_started.set()
        self._call_started = trio.Event()
        if self._deafened:
            await self._tell_call(SetDeafened(True))
        if self._talk_key_held:
            await self._tell_call(SetTalkKey(True))
        for user, volume in self._volumes.items():
            await self._tell_call(SetVolume(user, volume))
        log.info("joined the call in #%s as %s", call.channel, call.user)

    async def _leave(self) -> None:
        call = self._call
        if call is None or call.leaving:
            return
        call.leaving = True
        with trio.fail_after(ASK_TIMEOUT):
            try:
                await call.ref.ask(LeaveCall())
            except ActorStopped:
                self._forget(call)
        # The poll forgets the call once its actor ends, after the hub confirmed the hang-up.

    # -- audio ends -----------------------------------------------------------------------------
    async def _open_audio(self) -> tuple[SwitchableSource, SwitchableSink]:
        source, source_problem = await trio.to_thread.run_sync(self._open_source,
                                                              self._input_device)
        sink, sink_problem = await trio.to_thread.run_sync(self._open_sink, self._output_device)
        if source_problem:
            log.warning("cannot open the microphone: %s", source_problem)
            self._post(nt.CommandFailed("open the microphone", audio_device_failure(
                "microphone", self._input_device,
                "You are in the call, but others hear silence from you.")))
        if sink_problem:
            log.warning("cannot open the speakers: %s", sink_problem)
            self._post(nt.CommandFailed("open the speakers", audio_device_failure(
                "speakers", self._output_device, "You are in the call, but hear nothing.")))
        return SwitchableSource(source), SwitchableSink(sink)

    async def _open_video(self) -> SwitchableVideo | None:
        """The video source for a call, or None (no video to send, or it cannot be opened:
        then the user is told, and joins without it)."""
        setup = self._setup
        if setup.video == "none":
            return None
        try:
            return SwitchableVideo(await trio.to_thread.run_sync(lambda: parse_video_source(
                setup.video, width=setup.video_width, height=setup.video_height,
                fps=setup.video_fps)))
        except (MediaError, ValueError) as exc:
            log.warning("cannot open the video source %r: %s", setup.video, exc)
            self._video_on = False
            self._post(nt.CommandFailed("turn on the camera", camera_failure(
                "You are in the call and see the others' video, but send none.")))
            return None

    def _open_source(self, device: str) -> tuple[AudioSource, str]:
        """The source for a call, or silence and why (so a user without a microphone can
        still listen). Runs in a worker thread: opening a device can take a while."""
        spec = self._setup.source
        if callable(spec):
            return spec(), ""
        try:
            if spec is None:
                _make_known(device, "input")
            return parse_source(spec if spec is not None else microphone_spec(device)), ""
        except MediaError as exc:
            return NullSource(), str(exc)

    def _open_sink(self, device: str) -> tuple[AudioSink, str]:
        spec = self._setup.sink
        try:
            if spec is None:
                _make_known(device, "output")
            return parse_sink(spec if spec is not None else speaker_spec(device)), ""
        except MediaError as exc:
            return NullSink(), str(exc)

    async def _select_devices(self, input_device: str, output_device: str) -> None:
        """Remember the choice; in a call on real devices, switch to them at once."""
        call = self._call
        if call is not None and self._setup.uses_devices and not await trio.to_thread.run_sync(
                lambda: knows_device(input_device, "input")
                and knows_device(output_device, "output")):
            await self._reopen_all(call, input_device, output_device)
            return
        if input_device != self._input_device:
            if call is not None and self._setup.source is None:
                source, problem = await trio.to_thread.run_sync(self._open_source, input_device)
                if problem:
                    source.close()
                    log.warning("cannot open the microphone: %s", problem)
                    raise CallNotPossible(audio_device_failure(
                        "microphone", input_device, "The one you had stays in use."))
                await trio.to_thread.run_sync(call.source.swap(source).close)
            self._input_device = input_device
        if output_device != self._output_device:
            if call is not None and self._setup.sink is None:
                sink, problem = await trio.to_thread.run_sync(self._open_sink, output_device)
                if problem:
                    sink.close()
                    log.warning("cannot open the speakers: %s", problem)
                    raise CallNotPossible(audio_device_failure(
                        "speakers", output_device, "The ones you had stay in use."))
                await trio.to_thread.run_sync(call.sink.swap(sink).close)
            self._output_device = output_device

    async def _reopen_all(self, call: _Call, input_device: str, output_device: str) -> None:
        """Switch mid-call to a device plugged in after this process's PortAudio started: it
        re-reads its list only with no stream open, so both ends pause (silence, a fraction
        of a second) while everything is reopened. A device that will not open gives way to
        the one used before."""
        fixed_source, fixed_sink = self._setup.source is not None, self._setup.sink is not None
        old_source = None if fixed_source else call.source.swap(NullSource())
        old_sink = None if fixed_sink else call.sink.swap(NullSink())
        before = self._input_device, self._output_device

        def reopen() -> tuple[tuple[AudioSource, str | None] | None,
                              tuple[AudioSink, str | None] | None]:
            for old in (old_source, old_sink):
                if old is not None:
                    old.close()
            try:
                refresh_portaudio()
            except MediaError as exc:  # a stream opened meanwhile (the call's own fallback)
                log.warning("cannot re-read the sound devices: %s", exc)
            source = None if fixed_source else _first_open(self._open_source, input_device,
                                                           before[0])
            sink = None if fixed_sink else _first_open(self._open_sink, output_device,
                                                       before[1])
            return source, sink

        source, sink = await trio.to_thread.run_sync(reopen)
        failed = []
        if source is not None:
            call.source.swap(source[0])
            if source[1] == input_device:
                self._input_device = input_device
            else:
                failed.append(("microphone", input_device))
        if sink is not None:
            call.sink.swap(sink[0])
            if sink[1] == output_device:
                self._output_device = output_device
            else:
                failed.append(("speakers", output_device))
        if failed:
            what, device = failed[0]
            raise CallNotPossible(audio_device_failure(what, device, "The one you had stays "
                                                       "in use."))

    # -- what to show ---------------------------------------------------------------------------
    def view(self) -> CallView:
        view = CallView(available=True, unavailable_reason="", muted=self._muted,
                        deafened=self._deafened, video_on=self._video_on,
                        video_source=self._setup.video, input_devices=self._devices.inputs,
                        output_devices=self._devices.outputs, input_device=self._input_device,
                        output_device=self._output_device,
                        devices_note=(self._setup.audio_note
                                      or device_problem_text(self._devices.problem)),
                        transmit=self._voice.transmit.value,
                        talk_key_held=self._talk_key_held)
        call = self._call
        if call is None:
            return view
        phase = CallPhase.LEAVING if call.leaving else CallPhase.JOINING
        peers: tuple[CallPeer, ...] = ()
        if call.state is not None:
            if not call.leaving:
                phase = _PHASES.get(call.state.state, CallPhase.JOINING)
            peers = participants(call.state, call.user)
        if call.state is not None:
            view = replace(view, transmit=call.state.transmit.value,
                           own_speaking=call.state.speaking)
        return replace(view, channel=call.channel, phase=phase, participants=peers,
                       own_level_dbfs=self._own_level)


def _make_known(device: str, kind: str) -> None:
    """Let this process's PortAudio list `device` if it was plugged in since it started: it
    re-reads its list, which it can only while no stream is open (between calls)."""
    if not knows_device(device, kind):
        try:
            refresh_portaudio()
        except MediaError as exc:  # streams are open: opening will say the device is missing
            log.info("not re-reading the sound devices now: %s", exc)


End = TypeVar("End", AudioSource, AudioSink)


def _first_open(open_end: Callable[[str], tuple[End, str]], first: str,
                then: str) -> tuple[End, str | None]:
    """The first of two devices that opens and its name; silence and None if neither does."""
    end, problem = open_end(first)
    if not problem:
        return end, first
    end, problem = open_end(then)
    return end, None if problem else then


def _cause(exc: BaseException) -> str:
    if isinstance(exc, trio.TooSlowError):
        return "the call did not answer in time"
    cause = exc.__cause__ if isinstance(exc, ActorError) and exc.__cause__ else exc
    return str(cause) or type(cause).__name__
