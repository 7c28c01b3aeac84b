//! Writes recordings: of invited legs, a stereo WAV per leg (left: what the invited party
//! said, right: what they heard); of whole conferences, a mono WAV of the full mix at
//! 16 kHz. When one ends, a JSON sidecar says what it holds.
//!
//! Files are written on a thread of their own, so a slow disk never delays a mixing tick.
//! The WAV header is rewritten every second, so a crash or `kill -9` leaves a playable
//! file holding everything up to a second before. A write error stops the recording, not
//! the call.

use chorus_engine::{CallId, MIX_RECORDING_RATE, Notification};
use chorus_types::Frame;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::SystemTime;
use tokio::sync::broadcast;
use tracing::{info, warn};

/// Frames between header rewrites (one second).
const FLUSH_FRAMES: u64 = 50;

pub(crate) enum Recording {
    Start {
        call: CallId,
        conference: String,
        number: String,
        call_id: String,
    },
    /// Boxed: two frames are 640 bytes, the other variants a few words.
    Frames {
        call: CallId,
        audio: Box<(Frame, Frame)>,
    },
    Stop {
        call: CallId,
    },
    /// A whole conference, from now.
    MixStart {
        conference: String,
    },
    /// 20 ms of a recorded conference's mix at [`MIX_RECORDING_RATE`].
    MixFrame {
        conference: String,
        samples: Box<[i16]>,
    },
    MixStop {
        conference: String,
        reason: &'static str,
    },
}

/// What a recording is of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    /// An invited leg.
    Leg(CallId),
    /// A whole conference.
    Mix(String),
}

struct Open {
    subject: Subject,
    writer: hound::WavWriter<BufWriter<File>>,
    wav: PathBuf,
    conference: String,
    /// The invited leg's number and Call-ID.
    leg: Option<(String, String)>,
    started: SystemTime,
    frames: u64,
}

/// The sending side; a thread writes.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    sender: Sender<Recording>,
}

impl Recorder {
    /// Starts the writer thread for recordings under `dir`; started and stopped recordings
    /// are announced on `notify`.
    pub(crate) fn start(
        dir: PathBuf,
        notify: broadcast::Sender<Notification>,
    ) -> std::io::Result<Recorder> {
        let (sender, receiver) = channel();
        std::thread::Builder::new()
            .name("chorus-recorder".into())
            .spawn(move || write_loop(&dir, &receiver, &notify))?;
        Ok(Recorder { sender })
    }

    pub(crate) fn send(&self, recording: Recording) {
        let _ = self.sender.send(recording);
    }
}

fn file_stem(number: &str, when: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_seconds(when)
        .to_string()
        .replace([':', '-'], "");
    let number: String = number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{stamp}-{number}")
}

/// A new WAV in the conference's folder, named by the time and `label`.
fn create(
    dir: &std::path::Path,
    conference: &str,
    label: &str,
    spec: hound::WavSpec,
) -> std::io::Result<(PathBuf, hound::WavWriter<BufWriter<File>>)> {
    let folder = dir.join(conference);
    std::fs::create_dir_all(&folder)?;
    let mut wav = folder.join(format!("{}.wav", file_stem(label, SystemTime::now())));
    // Two conference recordings started within one second must not share a file.
    let mut n = 1;
    while wav.exists() {
        n += 1;
        wav = folder.join(format!("{}{n}.wav", file_stem(label, SystemTime::now())));
    }
    let writer = hound::WavWriter::create(&wav, spec).map_err(std::io::Error::other)?;
    Ok((wav, writer))
}

fn spec(channels: u16, rate: u32) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

fn recording_id(wav: &std::path::Path) -> String {
    wav.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn member_of(subject: &Subject) -> Option<u64> {
    match subject {
        Subject::Leg(call) => Some(call.0),
        Subject::Mix(_) => None,
    }
}

fn finish(open: Open, reason: &str, notify: &broadcast::Sender<Notification>) {
    let _ = notify.send(Notification::RecordingStopped {
        conference: open.conference.clone(),
        member: member_of(&open.subject),
        recording: recording_id(&open.wav),
        reason: reason.to_owned(),
    });
    let Open {
        subject,
        writer,
        wav,
        conference,
        leg,
        started,
        frames,
    } = open;
    if let Err(e) = writer.finalize() {
        warn!(file = %wav.display(), error = %e, "recording could not be finished");
    }
    let ended = SystemTime::now();
    let (number, call_id) = leg.unzip();
    let sidecar = serde_json::json!({
        "extension_id": conference,
        "kind": if matches!(subject, Subject::Mix(_)) { "conference" } else { "leg" },
        "number": number,
        "call_id": call_id,
        "start": humantime::format_rfc3339_seconds(started).to_string(),
        "end": humantime::format_rfc3339_seconds(ended).to_string(),
        "duration_ms": frames * 20,
    });
    let json = wav.with_extension("json");
    match std::fs::write(&json, sidecar.to_string()) {
        Ok(()) => info!(file = %wav.display(), seconds = frames / 50, "recording finished"),
        Err(e) => warn!(file = %json.display(), error = %e, "recording sidecar not written"),
    }
}

/// Opens a recording of `subject` (never a second one of the same subject).
fn begin(
    dir: &std::path::Path,
    open_files: &mut HashMap<Subject, Open>,
    subject: Subject,
    conference: String,
    leg: Option<(String, String)>,
    notify: &broadcast::Sender<Notification>,
) {
    if open_files.contains_key(&subject) {
        return;
    }
    let made = match &leg {
        Some((number, _)) => create(dir, &conference, number, spec(2, 8000)),
        None => create(
            dir,
            &conference,
            "conference",
            spec(1, MIX_RECORDING_RATE.hz()),
        ),
    };
    match made {
        Ok((wav, writer)) => {
            info!(file = %wav.display(), "recording started");
            let _ = notify.send(Notification::RecordingStarted {
                conference: conference.clone(),
                member: member_of(&subject),
                recording: recording_id(&wav),
            });
            open_files.insert(
                subject.clone(),
                Open {
                    subject,
                    writer,
                    wav,
                    conference,
                    leg,
                    started: SystemTime::now(),
                    frames: 0,
                },
            );
        }
        Err(e) => {
            warn!(error = %e, dir = %dir.display(), "recording not started; the call goes on")
        }
    }
}

/// Appends samples (interleaved when stereo); a write error ends the recording.
fn append(
    open_files: &mut HashMap<Subject, Open>,
    subject: &Subject,
    samples: impl Iterator<Item = i16>,
    notify: &broadcast::Sender<Notification>,
) {
    let Some(file) = open_files.get_mut(subject) else {
        return;
    };
    let mut result = Ok(());
    for sample in samples {
        result = file.writer.write_sample(sample);
        if result.is_err() {
            break;
        }
    }
    file.frames += 1;
    if result.is_ok() && file.frames.is_multiple_of(FLUSH_FRAMES) {
        result = file.writer.flush();
    }
    if let Err(e) = result {
        warn!(file = %file.wav.display(), error = %e, "recording stopped; the call goes on");
        if let Some(broken) = open_files.remove(subject) {
            finish(broken, &format!("error: {e}"), notify);
        }
    }
}

fn write_loop(
    dir: &std::path::Path,
    receiver: &Receiver<Recording>,
    notify: &broadcast::Sender<Notification>,
) {
    let mut open_files: HashMap<Subject, Open> = HashMap::new();
    while let Ok(message) = receiver.recv() {
        match message {
            Recording::Start {
                call,
                conference,
                number,
                call_id,
            } => begin(
                dir,
                &mut open_files,
                Subject::Leg(call),
                conference,
                Some((number, call_id)),
                notify,
            ),
            Recording::Frames { call, audio } => {
                let (said, heard) = *audio;
                let stereo = said.into_iter().zip(heard).flat_map(|(l, r)| [l, r]);
                append(&mut open_files, &Subject::Leg(call), stereo, notify);
            }
            Recording::Stop { call } => {
                if let Some(file) = open_files.remove(&Subject::Leg(call)) {
                    finish(file, "hangup", notify);
                }
            }
            Recording::MixStart { conference } => begin(
                dir,
                &mut open_files,
                Subject::Mix(conference.clone()),
                conference,
                None,
                notify,
            ),
            Recording::MixFrame {
                conference,
                samples,
            } => append(
                &mut open_files,
                &Subject::Mix(conference),
                samples.iter().copied(),
                notify,
            ),
            Recording::MixStop { conference, reason } => {
                if let Some(file) = open_files.remove(&Subject::Mix(conference)) {
                    finish(file, reason, notify);
                }
            }
        }
    }
    for (_, file) in open_files.drain() {
        finish(file, "shutdown", notify);
    }
}
