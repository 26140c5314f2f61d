//! A config validated the way the agent validates it before applying (router-model's
//! checks, with the list files it names read from the store): a rollback to a version
//! that fails is refused before anything is written, and the fleet table shows a router
//! whose current config fails as broken.

use async_trait::async_trait;

use router_store_client::fleet::Validate;
use router_store_client::{ConfigStore, FileName, RouterId};

#[derive(Debug, Clone, Copy)]
pub struct ModelCheck;

#[async_trait]
impl Validate for ModelCheck {
    async fn check(
        &self,
        store: &dyn ConfigStore,
        id: &RouterId,
        text: &str,
    ) -> Result<(), String> {
        validate(store, id, &format!("{id}@store"), text).await
    }
}

/// `Err` says why `text` (named `origin` in messages) does not validate.
pub async fn validate(
    store: &dyn ConfigStore,
    id: &RouterId,
    origin: &str,
    text: &str,
) -> Result<(), String> {
    let mut config = router_model::parse(origin, text).map_err(|e| e.to_string())?;
    for name in config.list_files() {
        let read = match FileName::new(name.as_str()) {
            Err(e) => Err(e.to_string()),
            Ok(file) => match store.get_file(id, &file).await {
                Ok(Some(bytes)) => String::from_utf8(bytes)
                    .map_err(|_| format!("{name} in the store is not UTF-8 text")),
                Ok(None) => Err(format!("the store has no file {name} for {id}")),
                Err(e) => Err(format!("reading {name} from the store: {e}")),
            },
        };
        config.set_file(name, read);
    }
    router_model::validate_text(config, origin, text)
        .map(drop)
        .map_err(|e| e.to_string())
}
