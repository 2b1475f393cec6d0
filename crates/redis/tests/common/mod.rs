//! What the Redis tests share: the Redis they run against, and the check that it is there.
#![allow(dead_code)]

/// The Redis every test uses (CI starts one there).
pub const URL: &str = "redis://127.0.0.1:6379";

/// Whether Redis answers at 127.0.0.1:6379. Without it a test is skipped with a message on a
/// developer's machine, and fails in CI (`CI` set), where Redis must run.
pub async fn redis_up() -> bool {
    let up = tokio::net::TcpStream::connect("127.0.0.1:6379")
        .await
        .is_ok();
    if !up {
        assert!(
            std::env::var_os("CI").is_none(),
            "Redis must run at 127.0.0.1:6379 in CI"
        );
        eprintln!("Redis is not running at 127.0.0.1:6379: test skipped");
    }
    up
}
