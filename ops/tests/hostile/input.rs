//! Bodies and documents: nesting, size, media type, broken JSON and UTF-8.

use crate::support::*;

#[test]
fn a_list_argument_nested_2048_deep_is_refused_and_the_server_stays_up() {
    let bomb = format!("{{ __typename(a: {}1{}) }}", "[".repeat(2048), "]".repeat(2048));
    let answer = query(None, &bomb);
    assert_eq!(answer.code(), "INVALID_INPUT");
    let answer = query(Some(&bearer()), &bomb);
    assert_eq!(answer.code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn a_list_argument_nested_to_the_limit_is_parsed_without_harm() {
    // 62 brackets, inside `{` and `(`: 64 in all, the deepest the limit lets through.
    let deep = format!("{{ __typename(a: {}1{}) }}", "[".repeat(62), "]".repeat(62));
    let answer = query(Some(&bearer()), &deep);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert!(!answer.json().to_string().contains("nests deeper"), "{}", answer.json());
    let deeper = format!("{{ __typename(a: {}1{}) }}", "[".repeat(63), "]".repeat(63));
    assert_eq!(query(Some(&bearer()), &deeper).code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn an_input_object_nested_2048_deep_in_the_document_is_refused() {
    let bomb = format!("{{ __typename(a: {}1{}) }}", "{a: ".repeat(2048), "}".repeat(2048));
    assert_eq!(query(None, &bomb).code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn variables_nested_2048_deep_are_refused() {
    let body =
        format!(r#"{{"query": "{{ __typename }}", "variables": {{"a": {}1{}}}}}"#, "[".repeat(2048), "]".repeat(2048));
    assert_eq!(post(&[JSON], body).code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn brackets_inside_string_literals_do_not_count_as_nesting() {
    let deep_text = format!("{{ __typename(a: \"{}\") }}", "[".repeat(2048));
    let answer = query(Some(&bearer()), &deep_text);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert!(!answer.json().to_string().contains("nests deeper"), "{}", answer.json());
}

#[test]
fn a_10_mb_body_with_a_token_is_refused_with_413() {
    let body = format!(r#"{{"query": "{{ __typename }}", "variables": {{"a": "{}"}}}}"#, "x".repeat(10 * 1024 * 1024));
    let answer = post(&[JSON, ("Authorization", &bearer())], body);
    assert_eq!(answer.status, 413);
    assert_eq!(answer.code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn a_10_mb_chunked_body_with_a_token_is_refused_with_413() {
    let mut chunked = Vec::new();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..160 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Authorization: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        bearer()
    );
    let answer = send(&server().address, head, chunked);
    assert_eq!(answer.status, 413);
    assert_eq!(answer.code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn a_large_body_without_a_token_is_refused_with_401_before_it_is_read() {
    let body = format!(r#"{{"query": "{{ __typename }}", "variables": {{"a": "{}"}}}}"#, "x".repeat(100 * 1024));
    let answer = post(&[JSON], body);
    assert_eq!(answer.status, 401);
    assert_eq!(answer.code(), "UNAUTHENTICATED");
    assert_still_serving();
}

#[test]
fn malformed_json_is_refused_as_json() {
    let answer = post(&[JSON], r#"{"query": "{ __typename }""#);
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "INVALID_INPUT");
}

#[test]
fn an_empty_body_is_refused_as_json() {
    let answer = post(&[JSON], "");
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "INVALID_INPUT");
}

#[test]
fn a_form_body_is_refused_as_json() {
    let answer = post(&[("Content-Type", "application/x-www-form-urlencoded")], "query=%7B__typename%7D");
    assert_eq!(answer.status, 415);
    assert!(answer.headers.contains("content-type: application/json"), "{}", answer.headers);
    assert_eq!(answer.code(), "INVALID_INPUT");
}

#[test]
fn broken_utf8_is_refused_as_json() {
    let mut body = br#"{"query": "{ __typename(a: \""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    body.extend_from_slice(br#"\") }"}"#);
    let answer = post(&[JSON], body);
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "INVALID_INPUT");
}
