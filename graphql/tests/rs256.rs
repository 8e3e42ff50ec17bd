//! Production tokens: RS256, verified with the issuer's public key; this server cannot mint them.
//! The key pair under `tests/fixtures` was generated for this test only.

use hotline_graphql::auth::{AuthError, Claims, Keys, Scope};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

#[test]
fn rs256_tokens_verify_with_the_public_key_only() {
    let public = include_bytes!("fixtures/rs256-public.pem");
    let private = include_bytes!("fixtures/rs256-private.pem");
    let keys = Keys::rs256(public).expect("public key");
    let claims = Claims {
        sub: "tj01-agent1".into(),
        tenant: Some("tj01".into()),
        org_path: "/hq/north/tj01".into(),
        roles: vec!["agent".into()],
        exp: chrono::Utc::now().timestamp() + 600,
    };
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &EncodingKey::from_rsa_pem(private).unwrap())
            .unwrap();
    assert_eq!(keys.verify(&token).unwrap().scope(), Scope::Tenant("tj01".into()));
    assert!(keys.mint(&claims).is_none(), "an RS256 server cannot mint tokens");
    // An HS256 token signed with the public key's bytes (algorithm confusion) is refused.
    let confused =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(public)).unwrap();
    assert!(matches!(keys.verify(&confused), Err(AuthError::Invalid(_))));
}
