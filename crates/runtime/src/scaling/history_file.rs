//! A scaling group's hourly load history in its file (`history_file`): read when the group
//! starts, written whenever an hour ends. The write goes to a temporary file renamed over
//! the old one, so a crash mid-write leaves the previous history whole. The file is a few
//! kilobytes written once an hour, so plain blocking calls are used.

use std::path::Path;

use ballast_scale::history::{HourlyHistory, Stored};

/// The history in `path` for group `group` at `now`; `None` when there is no file or it
/// cannot be used (logged: the group then starts a history of its own).
pub(super) fn load(path: &Path, group: &str, now: jiff::Timestamp) -> Option<HourlyHistory> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(scaling_group = group, file = %path.display(), %error, "the load history could not be read; a new one starts");
            return None;
        }
    };
    let stored: Stored = match serde_json::from_slice(&text) {
        Ok(stored) => stored,
        Err(error) => {
            tracing::warn!(scaling_group = group, file = %path.display(), %error, "the load history file is not valid; a new one starts");
            return None;
        }
    };
    match HourlyHistory::restore(stored, group, now) {
        Ok(history) => {
            tracing::info!(scaling_group = group, file = %path.display(), hours = history.hours().len(), "load history read");
            Some(history)
        }
        Err(error) => {
            tracing::warn!(scaling_group = group, file = %path.display(), %error, "the load history file is not used; a new one starts");
            None
        }
    }
}

/// Writes `history` of group `group` to `path`, creating its folder; a failure is logged
/// and tried again when the next hour ends.
pub(super) fn save(path: &Path, group: &str, history: &HourlyHistory) {
    if let Err(error) = write(path, group, history) {
        tracing::warn!(scaling_group = group, file = %path.display(), %error, "the load history could not be written");
    }
}

fn write(path: &Path, group: &str, history: &HourlyHistory) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_vec(&history.stored(group)).map_err(std::io::Error::other)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_written_is_read_back_and_a_bad_file_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/web.json");
        let start = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let mut history = HourlyHistory::new(start);
        for i in 1..=720 {
            history.push(start + jiff::SignedDuration::from_secs(10 * i), 3.0);
        }
        save(&path, "web", &history);
        let later = start + jiff::SignedDuration::from_secs(7300);
        let back = load(&path, "web", later).unwrap();
        assert_eq!(back.hours(), &[1080.0, 1080.0]);
        assert!(load(&path, "api", later).is_none(), "another group's");
        std::fs::write(&path, "{").unwrap();
        assert!(load(&path, "web", later).is_none(), "not JSON");
        assert!(load(&dir.path().join("none.json"), "web", later).is_none());
    }
}
