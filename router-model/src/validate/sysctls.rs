//! `[sysctl]`: values go to /proc/sys as written, so a line break or NUL would cut them.

use super::{key, Checker};
use crate::Config;

impl Config {
    pub(super) fn check_sysctls(&self, ck: &mut Checker) {
        for (k, v) in &self.sysctl.other {
            let k = k.as_str();
            let path = [key("sysctl"), key("other"), key(k)];
            if v.contains(['\n', '\r']) {
                ck.report(
                    &path,
                    format!("the value of {k} contains a line break; a sysctl takes one line"),
                );
            } else if v.contains('\0') {
                ck.report(
                    &path,
                    format!(
                        "the value of {k} contains a NUL character; the kernel would cut it there"
                    ),
                );
            }
        }
    }
}
