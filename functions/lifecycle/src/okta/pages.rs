//! Bounded walks over Okta's paged lists: `rel="next"` links followed for at most a
//! given number of pages, each link checked to stay on the org.

use reqwest::Url;
use serde_json::Value;

use super::client::OktaClient;
use super::error::{api_error, decode, OktaError};
use super::model::OktaUser;

/// The raw items of a paged list, one page per call.
#[derive(Debug)]
struct Walk {
    client: OktaClient,
    next: Option<Url>,
    pages_left: usize,
    truncated: bool,
}

impl Walk {
    fn new(client: OktaClient, first: Url, max_pages: usize) -> Self {
        Self {
            client,
            next: Some(first),
            pages_left: max_pages,
            truncated: false,
        }
    }

    /// The next page's items and its path; `None` once Okta has no `next` link or the
    /// bound is reached.
    async fn next_items(&mut self) -> Result<Option<(String, Vec<Value>)>, OktaError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        if self.pages_left == 0 {
            self.truncated = true;
            return Ok(None);
        }
        self.pages_left -= 1;
        let endpoint = url.path().to_owned();
        let answer = self.client.get(url).await?;
        if !(200..300).contains(&answer.status) {
            return Err(api_error(&endpoint, answer.status, &answer.body));
        }
        let items: Vec<Value> =
            serde_json::from_slice(&answer.body).map_err(|e| decode(&endpoint, e))?;
        self.next = self.client.next_link(&endpoint, &answer.headers)?;
        Ok(Some((endpoint, items)))
    }
}

/// Every item of a list, each decoded by `parse` as its page arrives, following `next`
/// links for at most `max_pages` pages; the flag says whether the bound cut the list
/// short. Only one page is held as JSON at a time: a user object is several times the
/// size of what its reader keeps (links, credentials' providers, the type), and 10,000
/// of them held at once were most of a sync plan's memory.
pub(super) async fn list_all<T>(
    client: &OktaClient,
    first: Url,
    max_pages: usize,
    parse: impl Fn(&Value) -> Result<T, String>,
) -> Result<(Vec<T>, bool), OktaError> {
    let mut walk = Walk::new(client.clone(), first, max_pages);
    let mut all = Vec::new();
    while let Some((endpoint, items)) = walk.next_items().await? {
        all.reserve(items.len());
        for item in &items {
            all.push(parse(item).map_err(|detail| OktaError::Decode {
                endpoint: endpoint.clone(),
                detail,
            })?);
        }
    }
    Ok((all, walk.truncated))
}

/// A lazy, bounded walk over `/api/v1/users` pages.
#[derive(Debug)]
pub struct UserPages {
    start: Option<(OktaClient, String, u32)>,
    walk: Option<Walk>,
    max_pages: usize,
}

impl UserPages {
    /// A walk over `GET /api/v1/users?filter=…&limit=…`; an empty filter is not sent.
    pub(super) fn new(client: OktaClient, filter: &str, limit: u32, max_pages: usize) -> Self {
        Self {
            start: Some((client, filter.to_owned(), limit)),
            walk: None,
            max_pages,
        }
    }

    /// The next page of users; `None` once Okta has no `next` link or the bound is reached.
    pub async fn next_page(&mut self) -> Result<Option<Vec<OktaUser>>, OktaError> {
        if let Some((client, filter, limit)) = self.start.take() {
            let mut url = client.url("/api/v1/users")?;
            {
                let mut q = url.query_pairs_mut();
                // Without a filter Okta hides DEPROVISIONED users; an empty one is an error.
                if !filter.trim().is_empty() {
                    q.append_pair("filter", &filter);
                }
                q.append_pair("limit", &limit.to_string());
            }
            self.walk = Some(Walk::new(client, url, self.max_pages));
        }
        let Some(walk) = self.walk.as_mut() else {
            return Ok(None);
        };
        let Some((endpoint, items)) = walk.next_items().await? else {
            return Ok(None);
        };
        let users = items
            .iter()
            .map(OktaUser::from_json)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|detail| OktaError::Decode { endpoint, detail })?;
        Ok(Some(users))
    }

    /// Whether the page bound stopped the walk while Okta still had a `next` page.
    pub fn is_truncated(&self) -> bool {
        self.walk.as_ref().is_some_and(|w| w.truncated)
    }
}
