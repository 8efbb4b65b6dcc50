"""transcription and speech against fake OpenAI and Azure servers."""

from __future__ import annotations

import io

import pytest

import polyrelay
from fakeserver import FakeServer, Reply
from polyrelay import _sync
from polyrelay.media.audio import AudioFile, multipart, silent_wav, wav_seconds


@pytest.fixture
def fake():
    server = FakeServer().start()
    yield server
    server.stop()


def test_openai_transcription_multipart_and_token_price(fake):
    fake.reply(Reply(json={"text": "hi", "usage": {"type": "tokens", "input_tokens": 100, "output_tokens": 10,
                                                   "input_token_details": {"audio_tokens": 90, "text_tokens": 10}}}))
    audio = io.BytesIO(b"ID3 not really an mp3")
    audio.name = "/tmp/talk.mp3"
    response = polyrelay.transcription(model="openai/gpt-4o-transcribe", file=audio, prompt="names: Ada",
                                       timestamp_granularities=["word"], api_key="sk-t", api_base=fake.url)
    sent = fake.requests[0]
    assert sent.path == "/audio/transcriptions" and sent.headers["authorization"] == "Bearer sk-t"
    assert b'filename="talk.mp3"' in sent.body and b"ID3 not really an mp3" in sent.body
    assert b'name="timestamp_granularities[]"\r\n\r\nword' in sent.body
    assert response.text == "hi"
    assert response._hidden_params["response_cost"] == pytest.approx(90 * 6e-06 + 10 * 2.5e-06 + 10 * 1e-05)


def test_whisper_priced_from_the_wav_header_when_the_answer_has_no_length(fake):
    fake.reply(Reply(body=b"1\n00:00:00,000 --> 00:00:02,000\nhi\n", headers={"Content-Type": "text/plain"}))
    response = polyrelay.transcription(model="openai/whisper-1", file=("a.wav", silent_wav(4.0)),
                                       response_format="srt", api_key="k", api_base=fake.url)
    assert response.text.startswith("1\n00:00:00,000")
    assert response._hidden_params["response_cost"] == pytest.approx(4.0 * 0.0001)


def test_azure_transcription_and_speech_paths(fake):
    fake.reply(Reply(json={"text": "x"}), Reply(body=b"RIFFaudio", headers={"Content-Type": "audio/wav"}))
    polyrelay.transcription(model="azure/whisper", file=b"abc", api_key="az", api_base=fake.url,
                            api_version="2024-06-01")
    speech = polyrelay.speech(model="azure/tts", input="hello", voice="nova", response_format="wav",
                              api_key="az", api_base=fake.url, api_version="2024-06-01")
    first, second = fake.requests
    assert first.path == "/openai/deployments/whisper/audio/transcriptions" and first.headers["api-key"] == "az"
    assert second.path == "/openai/deployments/tts/audio/speech"
    assert second.query == {"api-version": ["2024-06-01"]}
    assert second.json == {"model": "tts", "input": "hello", "voice": "nova", "response_format": "wav"}
    assert speech.content == b"RIFFaudio" and speech.content_type == "audio/wav"


def test_speech_streams_pieces_as_they_arrive(fake):
    fake.reply(Reply(stream=[b"a" * 10, b"b" * 10, b"c" * 10], headers={"Content-Type": "audio/mpeg"},
                     piece_delay=0.02))

    async def run():
        response = await polyrelay.aspeech(model="openai/tts-1-hd", input="four", voice="alloy", api_key="k",
                                           api_base=fake.url)
        pieces = [piece async for piece in response.aiter_bytes()]
        return response, pieces

    response, pieces = _sync.run(run())
    assert b"".join(pieces) == b"a" * 10 + b"b" * 10 + b"c" * 10 and len(pieces) >= 2
    assert response._hidden_params["response_cost"] == pytest.approx(4 * 3e-05)


def test_speech_errors_are_mapped_before_any_audio(fake):
    fake.reply(Reply(401, json={"error": {"message": "bad key", "type": "invalid_request_error"}}))
    with pytest.raises(polyrelay.AuthenticationError):
        polyrelay.speech(model="openai/tts-1", input="x", voice="alloy", api_key="k", api_base=fake.url)


def test_speech_input_and_voice_are_checked():
    with pytest.raises(polyrelay.BadRequestError) as caught:
        polyrelay.speech(model="mock/tts", input="x" * 5000, voice="alloy")
    assert caught.value.param == "input"
    with pytest.raises(polyrelay.BadRequestError) as caught:
        polyrelay.speech(model="mock/tts", input="x")
    assert caught.value.param == "voice"


def test_uploads_past_the_limit_are_refused():
    with pytest.raises(polyrelay.BadRequestError) as caught:
        AudioFile(b"\0" * (25 * 1024 * 1024 + 1))
    assert caught.value.status_code == 413


def test_multipart_and_wav_helpers():
    body, content_type = multipart({"model": "m"}, AudioFile(("x.wav", b"DATA", "audio/wav")))
    boundary = content_type.split("boundary=")[1]
    assert body.startswith(f"--{boundary}\r\n".encode()) and body.endswith(f"--{boundary}--\r\n".encode())
    assert wav_seconds(silent_wav(1.5)) == pytest.approx(1.5)
    assert wav_seconds(b"ID3...") is None


def test_router_transcribes_with_a_retry_sending_the_same_bytes(fake):
    fake.reply(Reply(503, json={"error": {"message": "busy"}}), Reply(json={"text": "ok"}))
    router = polyrelay.Router(model_list=[{"model_name": "stt", "litellm_params": {
        "model": "openai/whisper-1", "api_base": fake.url, "api_key": "k"}}], num_retries=1, retry_after=0)
    response = router.transcription(model="stt", file=io.BytesIO(b"same-bytes"))
    assert response.text == "ok"
    assert [b"same-bytes" in r.body for r in fake.requests] == [True, True]
