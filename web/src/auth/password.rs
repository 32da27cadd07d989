//! Password hashing with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes), and the
//! random tokens used for sessions and CSRF.

use std::sync::OnceLock;

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The operating system's random source failed.
    #[error("no randomness from the operating system: {0}")]
    Random(getrandom::Error),
    /// Argon2 refused (a password too long for it).
    #[error("cannot hash the password: {0}")]
    Hash(argon2::password_hash::Error),
}

/// Hashes a password into a PHC string (`$argon2id$v=19$...`) with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(PasswordError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(PasswordError::Hash)?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(PasswordError::Hash)?;
    Ok(hash.to_string())
}

/// Whether a password matches a stored hash. A malformed hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification, so an unknown user name answers as slowly as a
/// wrong password and the timing does not tell which names exist.
pub fn waste_verification(password: &str) {
    // The hash of a random password nobody knows, made once.
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        random_token()
            .ok()
            .and_then(|secret| hash_password(&secret).ok())
    });
    if let Some(hash) = dummy {
        let _ = verify_password(password, hash);
    }
}

/// A random token of 32 bytes as 64 hex digits (session ids, CSRF tokens).
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Compares two secrets in time that depends on their length only.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_others_do_not() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct hors", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, hash_password("correct horse").unwrap());
    }

    #[test]
    fn tokens_are_random_hex_and_compared_exactly() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &b));
        assert!(!same_secret(&a, &a[..63]));
    }
}
