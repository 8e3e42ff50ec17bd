//! The schema is the contract with every frontend: any change to it shows up here for review.

#[test]
fn schema_sdl_is_reviewed() {
    insta::assert_snapshot!("schema", hotline_graphql::sdl());
}
