use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::tokens::{Access, Caller, Tokens};

/// A clock the test moves by hand.
#[derive(Debug, Default)]
struct FakeClock(AtomicU64);

impl FakeClock {
    fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

const ADMIN: &str = "admin-token";

fn setup(file: Option<PathBuf>) -> (Arc<FakeClock>, Access, Enrolments) {
    let text = format!(
        "[[token]]\nsha256 = \"{}\"\nrouter = \"*\"\n",
        Digest256::of(ADMIN).hex()
    );
    let tokens = Tokens::parse("test", &text).expect("tokens");
    let clock = Arc::new(FakeClock(AtomicU64::new(1_000_000)));
    let enrolments = Enrolments::open(clock.clone(), tokens.enrolled(), file).expect("open");
    (clock, Access::Tokens(tokens), enrolments)
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

fn r1() -> RouterId {
    RouterId::new("r1").expect("id")
}

#[test]
fn an_enrolment_token_is_exchanged_once_for_the_router_s_own_token() {
    let (_, access, enrolments) = setup(None);
    let enrol = enrolments.mint(&r1(), None).expect("mint");
    // The enrolment token itself opens nothing.
    assert!(access.caller(Some(&bearer(&enrol))).is_err());
    let (id, own) = enrolments
        .exchange(&enrol, Some("10.0.2.15".into()))
        .expect("exchange")
        .expect("accepted");
    assert_eq!(id, r1());
    assert_ne!(own, enrol);
    assert_eq!(access.caller(Some(&bearer(&own))), Ok(Caller::Router(r1())));
    let whats: Vec<_> = enrolments.events(&r1()).iter().map(|e| e.what).collect();
    assert_eq!(whats, ["minted", "enrolled"]);
}

#[test]
fn a_replay_gets_nothing_and_is_recorded() {
    let (_, access, enrolments) = setup(None);
    let enrol = enrolments.mint(&r1(), None).expect("mint");
    let (_, own) = enrolments.exchange(&enrol, None).expect("x").expect("ok");
    let again = enrolments
        .exchange(&enrol, Some("10.0.2.99".into()))
        .expect("x");
    assert_eq!(again, Err(Refused::Replayed));
    // The first exchange's token still works: a replay revokes nothing.
    assert_eq!(access.caller(Some(&bearer(&own))), Ok(Caller::Router(r1())));
    let last = enrolments.events(&r1()).pop().expect("event");
    assert_eq!(
        (last.what, last.from.as_deref()),
        ("replayed", Some("10.0.2.99"))
    );
    assert_eq!(
        enrolments.exchange("never-minted", None).expect("x"),
        Err(Refused::Unknown)
    );
}

#[test]
fn an_enrolment_token_expires() {
    let (clock, _, enrolments) = setup(None);
    let late = enrolments.mint(&r1(), None).expect("mint");
    let in_time = enrolments.mint(&r1(), None).expect("mint");
    clock.advance(LIFETIME_SECS - 1);
    assert!(enrolments.exchange(&in_time, None).expect("x").is_ok());
    clock.advance(1);
    assert_eq!(
        enrolments.exchange(&late, None).expect("x"),
        Err(Refused::Expired)
    );
    assert_eq!(enrolments.events(&r1()).last().expect("e").what, "expired");
}

#[test]
fn the_next_boot_s_enrolment_rotates_the_router_s_token() {
    let (_, access, enrolments) = setup(None);
    let first = enrolments.mint(&r1(), None).expect("mint");
    let (_, old) = enrolments.exchange(&first, None).expect("x").expect("ok");
    let second = enrolments.mint(&r1(), None).expect("mint");
    let (_, new) = enrolments.exchange(&second, None).expect("x").expect("ok");
    assert!(
        access.caller(Some(&bearer(&old))).is_err(),
        "old token lives"
    );
    assert_eq!(access.caller(Some(&bearer(&new))), Ok(Caller::Router(r1())));
    // Another router's enrolment leaves r1's token alone.
    let r2 = RouterId::new("r2").expect("id");
    let t2 = enrolments.mint(&r2, None).expect("mint");
    let (_, own2) = enrolments.exchange(&t2, None).expect("x").expect("ok");
    assert_eq!(access.caller(Some(&bearer(&new))), Ok(Caller::Router(r1())));
    assert_eq!(access.caller(Some(&bearer(&own2))), Ok(Caller::Router(r2)));
}

#[test]
fn only_a_few_unused_enrolment_tokens_are_kept_per_router() {
    let (_, _, enrolments) = setup(None);
    let first = enrolments.mint(&r1(), None).expect("mint");
    for _ in 0..PENDING_PER_ROUTER {
        enrolments.mint(&r1(), None).expect("mint");
    }
    assert_eq!(
        enrolments.exchange(&first, None).expect("x"),
        Err(Refused::Unknown)
    );
}

#[test]
fn minted_tokens_survive_a_restart_of_the_server_as_digests_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("enrolled.toml");
    let (_, _, enrolments) = setup(Some(file.clone()));
    let enrol = enrolments.mint(&r1(), None).expect("mint");
    let (_, own) = enrolments.exchange(&enrol, None).expect("x").expect("ok");
    let text = std::fs::read_to_string(&file).expect("file");
    assert!(!text.contains(&own), "{text}");
    assert!(text.contains(&Digest256::of(&own).hex()), "{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let (_, access, _) = setup(Some(file));
    assert_eq!(access.caller(Some(&bearer(&own))), Ok(Caller::Router(r1())));
}
