//! Secrets at rest: XChaCha20-Poly1305 under a 256-bit key that lives outside the database (a file
//! or the `KEEL_SECRET_KEY` environment variable), bound to the function and secret name so that a
//! sealed value cannot be moved to another name.
//!
//! It seals and opens bytes; it never logs, prints or stores a plaintext.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest as _, Sha256};

use super::Error;

/// Where the secret key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySource {
    /// The key itself (base64 of 32 bytes), from `KEEL_SECRET_KEY`; wins over the file.
    pub inline: Option<String>,
    /// The key file (base64 of 32 bytes on one line), created by the first `keel secret set`.
    pub file: PathBuf,
}

impl KeySource {
    /// The default for a database at `db`: a key file beside it, `<db>.key`.
    pub fn beside(db: &Path) -> Self {
        let mut file = db.as_os_str().to_owned();
        file.push(".key");
        Self {
            inline: None,
            file: PathBuf::from(file),
        }
    }

    /// Where the key is read from, for messages.
    pub fn describe(&self) -> String {
        match self.inline {
            Some(_) => "the KEEL_SECRET_KEY environment variable".to_owned(),
            None => format!("the key file {}", self.file.display()),
        }
    }
}

/// A sealed secret as stored: a row type of the store's.
pub use keel_store::Sealed;

/// The key secrets are sealed with.
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
    id: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey").field("id", &self.id).finish()
    }
}

impl SecretKey {
    fn from_bytes(bytes: &[u8], source: &KeySource) -> Result<Self, Error> {
        if bytes.len() != 32 {
            return Err(Error::BadKey(format!(
                "{} does not hold a key: expected base64 of 32 bytes, found {} bytes",
                source.describe(),
                bytes.len()
            )));
        }
        let id = hex::encode(&Sha256::digest(bytes)[..8]);
        let cipher = XChaCha20Poly1305::new_from_slice(bytes)
            .map_err(|e| Error::BadKey(format!("{}: {e}", source.describe())))?;
        Ok(Self { cipher, id })
    }

    fn decode(text: &str, source: &KeySource) -> Result<Self, Error> {
        let bytes = STANDARD.decode(text.trim()).map_err(|e| {
            Error::BadKey(format!(
                "{} is not base64 of a 32-byte key: {e}",
                source.describe()
            ))
        })?;
        Self::from_bytes(&bytes, source)
    }

    /// The key from `source`; `Err(KeyMissing)` when there is none.
    pub fn load(source: &KeySource) -> Result<Self, Error> {
        if let Some(text) = &source.inline {
            return Self::decode(text, source);
        }
        match std::fs::read_to_string(&source.file) {
            Ok(text) => Self::decode(&text, source),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::KeyMissing(source.file.clone()))
            }
            Err(e) => Err(Error::BadKey(format!(
                "could not read the key file {}: {e}",
                source.file.display()
            ))),
        }
    }

    /// The key from `source`, creating the key file (mode 0600) when there is none. Returns whether
    /// it was created.
    pub fn load_or_create(source: &KeySource) -> Result<(Self, bool), Error> {
        match Self::load(source) {
            Err(Error::KeyMissing(path)) => {
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                write_new_key_file(&path, &STANDARD.encode(key))?;
                Ok((Self::from_bytes(&key, source)?, true))
            }
            other => other.map(|k| (k, false)),
        }
    }

    /// The key's fingerprint (not secret): the first 8 bytes of its SHA-256, in hex.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `value` as secret `name` of `function`.
    pub fn seal(&self, function: &str, name: &str, value: &[u8]) -> Result<Sealed, Error> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(function, name);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: value,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::BadKey("sealing the secret failed".to_owned()))?;
        Ok(Sealed {
            key_id: self.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens secret `name` of `function`.
    pub fn open(&self, function: &str, name: &str, sealed: &Sealed) -> Result<Vec<u8>, Error> {
        let unopenable = |why: String| Error::SecretUnopenable {
            function: function.to_owned(),
            name: name.to_owned(),
            reason: why,
        };
        if sealed.key_id != self.id {
            return Err(unopenable(format!(
                "it was sealed with key {} but the key in use is {}",
                sealed.key_id, self.id
            )));
        }
        if sealed.nonce.len() != 24 {
            return Err(unopenable("its stored nonce is damaged".to_owned()));
        }
        let aad = associated_data(function, name);
        self.cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| unopenable("its ciphertext does not authenticate".to_owned()))
    }
}

fn associated_data(function: &str, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + function.len() + name.len());
    aad.extend_from_slice(b"keel-secret\0");
    aad.extend_from_slice(function.as_bytes());
    aad.push(0);
    aad.extend_from_slice(name.as_bytes());
    aad
}

fn write_new_key_file(path: &Path, text: &str) -> Result<(), Error> {
    let fail = |e: std::io::Error| {
        Error::BadKey(format!(
            "could not create the key file {}: {e}",
            path.display()
        ))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    writeln!(file, "{text}").map_err(fail)?;
    file.sync_all().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_opens_what_it_sealed_and_nothing_moved_or_forged() {
        let dir = tempfile::tempdir().unwrap();
        let source = KeySource::beside(&dir.path().join("keel.db"));
        assert!(matches!(
            SecretKey::load(&source),
            Err(Error::KeyMissing(_))
        ));
        let (key, created) = SecretKey::load_or_create(&source).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&source.file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = key.seal("Pay", "TOKEN", b"s3cr3t-value").unwrap();
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"s3cr3t"));
        let again = SecretKey::load(&source).unwrap();
        assert_eq!(
            again.open("Pay", "TOKEN", &sealed).unwrap(),
            b"s3cr3t-value"
        );
        // Bound to its function and name.
        assert!(again.open("Mail", "TOKEN", &sealed).is_err());
        assert!(again.open("Pay", "OTHER", &sealed).is_err());
        let mut forged = sealed.clone();
        forged.ciphertext[0] ^= 1;
        assert!(again.open("Pay", "TOKEN", &forged).is_err());
        // Another key says so, naming both fingerprints.
        let other = KeySource {
            inline: Some(STANDARD.encode([7u8; 32])),
            file: PathBuf::new(),
        };
        let err = SecretKey::load(&other)
            .unwrap()
            .open("Pay", "TOKEN", &sealed)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("[KEEL-C4]") && err.contains(key.id()),
            "{err}"
        );
    }

    #[test]
    fn a_malformed_key_is_a_clear_error() {
        let bad = KeySource {
            inline: Some("not base64!".to_owned()),
            file: PathBuf::new(),
        };
        let err = SecretKey::load(&bad).unwrap_err().to_string();
        assert!(
            err.starts_with("[KEEL-C4]") && err.contains("KEEL_SECRET_KEY"),
            "{err}"
        );
        let short = KeySource {
            inline: Some(STANDARD.encode([1u8; 16])),
            file: PathBuf::new(),
        };
        let err = SecretKey::load(&short).unwrap_err().to_string();
        assert!(err.contains("32 bytes"), "{err}");
    }
}
