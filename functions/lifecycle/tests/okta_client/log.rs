//! System Log paging: `next` links to the end, the cursor on an empty page.

use super::*;

#[tokio::test]
async fn paging_follows_next_to_the_end_and_an_empty_page_keeps_the_cursor() {
    let org = start_org().await;
    let mut expected = Vec::new();
    for login in [
        "ada.lovelace@example.com",
        "grace.hopper@example.com",
        "alan.turing@example.com",
        "margaret.hamilton@example.com",
        "linus.pauling@example.com",
    ] {
        expected.push(org.deactivate(login).await);
    }
    let client = org.ssws(ClientOptions::default());
    let mut query = deactivations(2);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = client.system_log_page(&query).await.unwrap();
        pages += 1;
        assert!(pages <= 5, "paging must end");
        let cursor = page.next_after.clone().expect("polling always has next");
        if page.events.is_empty() {
            assert_eq!(query.after.as_deref(), Some(cursor.as_str()));
            break;
        }
        seen.extend(
            parsed(&page)
                .into_iter()
                .map(|e| e.unwrap().user.expect("target user").id.as_str().to_owned()),
        );
        query.after = Some(cursor);
    }
    assert_eq!(pages, 4, "2 + 2 + 1 events, then the empty page");
    assert_eq!(seen, expected, "every event once, in order");
    // A new event after the empty page is found from the kept cursor.
    let late = org.deactivate("hedy.lamarr@example.com").await;
    let page = client.system_log_page(&query).await.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(
        parsed(&page)[0]
            .as_ref()
            .unwrap()
            .user
            .as_ref()
            .unwrap()
            .id
            .as_str(),
        late
    );
}
