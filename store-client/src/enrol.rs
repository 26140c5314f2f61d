//! The router's side of enrolment (docs/netboot.md, "Enrolment"): the single-use token of
//! its boot script (`router.enrol=`) exchanged, at first contact, for its own token. The
//! management path may still be coming up, so an unreachable store is asked again; a
//! refusal (used, expired, unknown) is final: that token will never work.

use std::time::Duration;

use async_trait::async_trait;

/// Why an exchange got no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrolError {
    /// The store said no (403): the token was used, has expired or is unknown.
    #[error("the store refused the enrolment token: {0}")]
    Refused(String),
    /// No answer, or one that is no answer to this (asked again).
    #[error("enrolment: {0}")]
    Unreachable(String),
    #[error("no enrolment within {0:?} (the enrolment token has expired by now)")]
    GaveUp(Duration),
}

/// What exchanges an enrolment token: the store server, or a fake.
#[async_trait]
pub trait Enrol: Send + Sync {
    /// The router's own token for `token`.
    async fn exchange(&self, token: &str) -> Result<String, EnrolError>;
}

/// Exchanges `token`, asking again (1 s, doubling to 10 s) while the store cannot be
/// reached, for at most `within` (the token's lifetime: later it has expired anyway).
pub async fn enrol(store: &dyn Enrol, token: &str, within: Duration) -> Result<String, EnrolError> {
    let started = tokio::time::Instant::now();
    let mut wait = Duration::from_secs(1);
    loop {
        match store.exchange(token).await {
            Ok(own) => return Ok(own),
            Err(EnrolError::Unreachable(why)) => {
                if started.elapsed() + wait > within {
                    return Err(EnrolError::GaveUp(within));
                }
                tracing::warn!("enrolment: {why}; again in {wait:?}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
            Err(other) => return Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A store that answers from a list, then refuses as a used token would be.
    struct Fake(Mutex<Vec<Result<String, EnrolError>>>);

    #[async_trait]
    impl Enrol for Fake {
        async fn exchange(&self, _token: &str) -> Result<String, EnrolError> {
            let mut answers = self.0.lock().expect("lock");
            if answers.is_empty() {
                return Err(EnrolError::Refused("already used".into()));
            }
            answers.remove(0)
        }
    }

    fn down() -> Result<String, EnrolError> {
        Err(EnrolError::Unreachable("connection refused".into()))
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_store_is_asked_again_until_it_answers() {
        let fake = Fake(Mutex::new(vec![down(), down(), Ok("own".into())]));
        let t = tokio::time::Instant::now();
        let own = enrol(&fake, "e", Duration::from_secs(600)).await;
        assert_eq!(own, Ok("own".into()));
        assert_eq!(t.elapsed(), Duration::from_secs(3), "1 s, then 2 s");
        // The second use of the same token gets nothing.
        let again = enrol(&fake, "e", Duration::from_secs(600)).await;
        assert!(matches!(again, Err(EnrolError::Refused(_))), "{again:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_final_and_a_store_never_reached_is_given_up() {
        let fake = Fake(Mutex::new(vec![Err(EnrolError::Refused("expired".into()))]));
        let t = tokio::time::Instant::now();
        assert_eq!(
            enrol(&fake, "e", Duration::from_secs(600)).await,
            Err(EnrolError::Refused("expired".into()))
        );
        assert_eq!(t.elapsed(), Duration::ZERO);
        let never = Fake(Mutex::new((0..100).map(|_| down()).collect()));
        assert_eq!(
            enrol(&never, "e", Duration::from_secs(30)).await,
            Err(EnrolError::GaveUp(Duration::from_secs(30)))
        );
        assert!(t.elapsed() <= Duration::from_secs(30));
    }
}
